"""Search baselines over a results table (BLOX ships none): random search and regularised evolution.

Both query a table {arch: accuracy} (a benchmark: each query is a look-up, not a training run), are
seeded, and return their trajectory: the best accuracy found after each architecture queried. An
architecture is a tuple of choices per stage; a mutation changes the choice of one stage.

    table = {arch: acc for arch, acc in ...}
    trajectory = regularized_evolution(table, budget=20, seed=0)
"""
from __future__ import annotations

import random
from collections import deque
from collections.abc import Hashable, Mapping, Sequence

from blockzoo.errors import BlockzooError

Arch = tuple[Hashable, ...]


def random_search(table: Mapping[Arch, float], budget: int, seed: int) -> list[float]:
    """Query `budget` distinct architectures uniformly at random; the best accuracy after each query."""
    _check(table, budget)
    rng = random.Random(seed)
    order = rng.sample(sorted(table, key=repr), min(budget, len(table)))
    return _trajectory([table[arch] for arch in order], budget)


def regularized_evolution(table: Mapping[Arch, float], budget: int, seed: int, population: int = 10,
                          sample: int = 3) -> list[float]:
    """Real et al. (2019): a population of `population` random architectures; then, each step, the best of
    `sample` drawn from it is mutated (one stage's choice changed to another seen in the table), the child
    is queried and joins, and the oldest member leaves. Queries of an architecture already seen cost
    nothing (a table look-up); the budget counts distinct architectures queried. Where mutation finds nothing
    new for 10 x len(table) steps, a random unqueried architecture joins instead."""
    _check(table, budget)
    if population < 1 or sample < 1:
        raise BlockzooError(f"population and sample must be >= 1, got {population} and {sample}")
    rng = random.Random(seed)
    archs = sorted(table, key=repr)
    choices = [sorted({arch[stage] for arch in archs}, key=repr) for stage in range(len(archs[0]))]
    queried: dict[Arch, float] = {}
    history: list[float] = []

    def query(arch: Arch) -> float:
        if arch not in queried:
            queried[arch] = table[arch]
            history.append(queried[arch])
        return queried[arch]

    members: deque[Arch] = deque()
    for arch in rng.sample(archs, min(population, budget, len(archs))):
        query(arch)
        members.append(arch)
    budget = min(budget, len(table))
    stalled = 0
    while len(history) < budget:
        parent = max(rng.sample(list(members), min(sample, len(members))), key=lambda a: queried[a])
        child = _mutate(parent, choices, table, rng)
        if child in queried and stalled >= 10 * len(table):
            # every mutation of the population stays among queried architectures (the table's neighbours
            # form islands): a random unqueried one joins, so the run spends its whole budget
            child = rng.choice([arch for arch in archs if arch not in queried])
        before = len(history)
        query(child)
        stalled = 0 if len(history) > before else stalled + 1
        members.append(child)
        if len(members) > population:
            members.popleft()
    return _trajectory(history, budget)


def _mutate(parent: Arch, choices: Sequence[Sequence], table: Mapping[Arch, float], rng: random.Random) -> Arch:
    """The parent with one stage's choice changed, to an architecture that is in the table."""
    for _ in range(100):
        stage = rng.randrange(len(parent))
        options = [c for c in choices[stage] if c != parent[stage]]
        if not options:
            continue
        child = (*parent[:stage], rng.choice(options), *parent[stage + 1:])
        if child in table:
            return child
    return rng.choice(sorted(table, key=repr))


def _trajectory(accuracies: Sequence[float], budget: int) -> list[float]:
    best, trajectory = float("-inf"), []
    for accuracy in accuracies[:budget]:
        best = max(best, accuracy)
        trajectory.append(best)
    return trajectory


def _check(table: Mapping, budget: int) -> None:
    if not table:
        raise BlockzooError("the search table is empty: train some architectures first")
    if not isinstance(budget, int) or budget < 1:
        raise BlockzooError(f"the search budget must be a positive number of architectures, got {budget!r}")
    if len({len(arch) for arch in table}) != 1:
        raise BlockzooError("every architecture of a search table must have the same number of stages")
