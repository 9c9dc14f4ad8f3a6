"""The BLOX macro search space (Chau et al., NeurIPS 2022), exactly as docs/blox.md defines it.

Operations 0 conv, 1 mbconv, 2 bconv; a BLOX cell of two nodes, written [[op1], [op2, prev, input, sc]]:
    n1 = op1(x);  n2 = op2(prev * n1 + input * x);  out = n2 + n1 if sc else n2
(prev = input = 0, sc = 1: out = n1; prev = input = sc = 0: invalid). An architecture is one BLOX cell per
stage: nested [[[op1], [op2, p, i, s]], ...] or flat (15 ints). Canonicalisation maps every arch vector
to the one representative of its function: the 72 codes of a BLOX cell become 45 unique BLOX cells, and
three stages 45^3 = 91,125 architectures. The network: stem (CBR 3x3, 3 -> 32), per stage a BLOX cell at C
and a Reduction C -> 2C (C = 32, 64, 128), head (pool, linear 256 -> classes). (A "cell" elsewhere in
blockzoo is a network the benchmark measures; one BLOX architecture is one such cell.)
"""
from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Sequence

from blockzoo.errors import BlockzooError

OPS = ("conv", "mbconv", "bconv")
STAGES = 3
SCHEMES = {  # (prev, input, sc) -> the connectivity scheme's name
    (0, 0, 1): "single", (0, 1, 0): "single", (1, 0, 0): "sequential", (1, 1, 0): "dense-in",
    (1, 0, 1): "skip-out", (1, 1, 1): "both", (0, 1, 1): "parallel",
}
BloxCell = tuple[int, int, int, int, int]  # (op1, op2, prev, input, sc), flat
Arch = tuple[BloxCell, BloxCell, BloxCell]


def parse(value) -> Arch:
    """An arch vector from its nested or flat form (a JSON string or a list); one-line error otherwise."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise BlockzooError(f"'{value}' is not a BLOX arch vector: give JSON, nested "
                                "[[[op1],[op2,prev,input,sc]], x3] or 15 integers") from None
    if not isinstance(value, (list, tuple)):
        raise BlockzooError(f"{value!r} is not a BLOX arch vector: give a list")
    if len(value) == STAGES and all(isinstance(c, (list, tuple)) and len(c) == 5 for c in value):
        blox_cells = [tuple(c) for c in value]  # the internal form: (op1, op2, prev, input, sc) per stage
    elif all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        flat = list(value)
        if len(flat) != 5 * STAGES:
            raise BlockzooError(f"a flat BLOX arch vector has {5 * STAGES} integers (op1, op2, prev, input, sc per "
                                f"stage), got {len(flat)}")
        blox_cells = [tuple(flat[5 * s:5 * s + 5]) for s in range(STAGES)]
    else:
        if len(value) != STAGES:
            raise BlockzooError(f"a BLOX arch vector has one BLOX cell per stage ({STAGES}), got {len(value)}")
        blox_cells = [_parse_nested_blox_cell(blox_cell, stage) for stage, blox_cell in enumerate(value)]
    for stage, blox_cell in enumerate(blox_cells):
        check_blox_cell(blox_cell, stage)
    return tuple(blox_cells)


def _parse_nested_blox_cell(blox_cell, stage: int) -> BloxCell:
    try:
        (op1,), (op2, prev, inp, sc) = blox_cell
    except (TypeError, ValueError):
        raise BlockzooError(f"stage {stage} of the arch vector is {blox_cell!r}; "
                            "a BLOX cell is [[op1], [op2, prev, input, sc]]") from None
    return (op1, op2, prev, inp, sc)


def check_blox_cell(blox_cell: Sequence, stage: int = 0) -> None:
    op1, op2, prev, inp, sc = blox_cell
    for name, value, top in (("op1", op1, 2), ("op2", op2, 2), ("prev", prev, 1), ("input", inp, 1), ("sc", sc, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= top:
            raise BlockzooError(f"stage {stage}: {name} must be an integer from 0 to {top}, got {value!r}")
    if prev == inp == sc == 0:
        raise BlockzooError(f"stage {stage}: prev = input = sc = 0 leaves the BLOX cell without an output (invalid); "
                            "set at least one of the three bits")


def canonical_blox_cell(blox_cell: BloxCell) -> BloxCell:
    """The representative of the BLOX cell's function: a single op is (op, 0, 0, 0, 1); parallel ops are sorted."""
    op1, op2, prev, inp, sc = blox_cell
    if (prev, inp, sc) == (0, 0, 1):
        return (op1, 0, 0, 0, 1)
    if (prev, inp, sc) == (0, 1, 0):  # op2(x) alone: the single-op BLOX cell of op2
        return (op2, 0, 0, 0, 1)
    if (prev, inp, sc) == (0, 1, 1):  # op1(x) + op2(x): the order does not matter
        return (min(op1, op2), max(op1, op2), 0, 1, 1)
    return (op1, op2, prev, inp, sc)


def canonical(arch) -> Arch:
    return tuple(canonical_blox_cell(blox_cell) for blox_cell in parse(arch))


def unique_blox_cells() -> list[BloxCell]:
    """The 45 unique BLOX cells, in a fixed order (sorted canonical codes): a BLOX cell's index names it in ids."""
    codes = itertools.product(range(3), range(3), range(2), range(2), range(2))
    return sorted({canonical_blox_cell(code) for code in codes if code[2:] != (0, 0, 0)})


_INDEX = {blox_cell: index for index, blox_cell in enumerate(unique_blox_cells())}


def arch_id(arch) -> str:
    """A stable id of the architecture's function: 'blox-' and its three BLOX cells' indices, e.g. blox-03-17-44."""
    return "blox-" + "-".join(f"{_INDEX[blox_cell]:02d}" for blox_cell in canonical(arch))


def from_id(identifier: str) -> Arch:
    blox_cells = unique_blox_cells()
    try:
        prefix, *indices = identifier.split("-")
        assert prefix == "blox" and len(indices) == STAGES
        return tuple(blox_cells[int(i)] for i in indices)
    except (AssertionError, ValueError, IndexError):
        raise BlockzooError(f"'{identifier}' is not a BLOX architecture id (blox-II-JJ-KK, each 00 to 44)") from None


def all_archs() -> Iterator[Arch]:
    """Every unique architecture (91,125), lazily, in id order."""
    return itertools.product(unique_blox_cells(), repeat=STAGES)


def nested(arch) -> list:
    return [[[op1], [op2, prev, inp, sc]] for op1, op2, prev, inp, sc in canonical(arch)]


def flat(arch) -> list[int]:
    return [value for blox_cell in canonical(arch) for value in blox_cell]


def describe_blox_cell(blox_cell: BloxCell) -> str:
    """In words: 'conv', 'conv -> mbconv (dense-in)', 'conv + bconv (parallel)'."""
    op1, op2, prev, inp, sc = canonical_blox_cell(blox_cell)
    scheme = SCHEMES[(prev, inp, sc)]
    if scheme == "single":
        return OPS[op1]
    joiner = " + " if scheme == "parallel" else " -> "
    return f"{OPS[op1]}{joiner}{OPS[op2]} ({scheme})"


def describe(arch) -> str:
    return " | ".join(describe_blox_cell(blox_cell) for blox_cell in canonical(arch))
