"""Paired A/B ratios of the options for the narrow scaffold's training (scripts/bench_train_throughput.py --options
with --network narrow). Each pair measures A then B back to back, alternating which goes first, and the ratio
B/A of each pair is kept: a machine whose speed drifts moves both halves of a pair alike.

    python scripts/narrow_options.py --child THREADS STEPS BATCH   (one process of the threads test)
"""
from __future__ import annotations

import copy
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from blockzoo.train.allocator import keep_freed_memory
from blockzoo.train.module import to_channels_last
from blockzoo.train.recipes import RECIPES

PAIRS = 5


def bare_step(net: torch.nn.Module, batch_size: int, input_shape, *, channels_last: bool, compile: bool = False):
    """forward + loss + backward + SGD on one fixed batch, as a function; the sgd recipe's optimiser."""
    net = copy.deepcopy(net)
    x = torch.randn(batch_size, *input_shape)
    y = torch.randint(0, 10, (batch_size,))
    if channels_last:
        net, x = to_channels_last(net), x.contiguous(memory_format=torch.channels_last)
    forward = torch.compile(net) if compile else net
    recipe = RECIPES["sgd"]
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=recipe.momentum, nesterov=True)

    def step():
        loss = F.cross_entropy(forward(x), y, label_smoothing=recipe.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def eval_pass(net: torch.nn.Module, batch_size: int, input_shape, images: int = 2048):
    """The validation pass's work: `images` images forward in eval mode under inference_mode, in batches."""
    net = to_channels_last(copy.deepcopy(net)).eval()
    x = torch.randn(batch_size, *input_shape).contiguous(memory_format=torch.channels_last)

    def run():
        with torch.inference_mode():
            for _ in range(max(1, images // batch_size)):
                net(x).argmax(1)

    return run


def images_per_s(fn, images_per_call: int, calls: int = 4) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return calls * images_per_call / (time.perf_counter() - start)


def paired(label: str, a, b) -> list[float]:
    """PAIRS ratios b()/a() of two measurements (higher is better), alternating the order within pairs."""
    ratios = []
    for i in range(PAIRS):
        first, second = (a, b) if i % 2 == 0 else (b, a)
        x, y = first(), second()
        ratios.append(y / x if i % 2 == 0 else x / y)
    print(f"  {label:<62} B/A median {statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f}, "
          f"{PAIRS} pairs)", flush=True)
    return ratios


def cells_at_once(cells: int, threads: int, steps: int, batch_size: int) -> float:
    """Images/s of `cells` processes of `threads` threads each stepping at once, summed: each child imports,
    builds and warms up, then all start together on a signal and report their own start and end."""
    command = [sys.executable, __file__, "--child", str(threads), str(steps), str(batch_size)]
    children = [subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                for _ in range(cells)]
    for process in children:
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError("a child of the threads test failed to start")
    for process in children:
        process.stdin.write("go\n")
        process.stdin.flush()
    spans = [json.loads(process.communicate()[0]) for process in children]
    return cells * steps * batch_size / (max(s["end"] for s in spans) - min(s["start"] for s in spans))


def paired_options(budget: dict, work: Path) -> dict[str, list[float]]:
    """Print and return the paired ratios of each option against the default for the budget's baseline cell."""
    from narrow_throughput import loop_run

    net, shape = budget["cell"].build(), budget["input_shape"]
    batch = budget["train"].batch_size
    keep_freed_memory()
    print(f"options, narrow scaffold, batch {batch}: A = the default, B = the option; B/A > 1: the option is faster")
    steps = {cl: bare_step(net, batch, shape, channels_last=cl) for cl in (True, False)}
    results = {"contiguous vs channels-last, bare step": paired(
        "A channels-last, B contiguous: bare step", lambda: images_per_s(steps[True], batch),
        lambda: images_per_s(steps[False], batch))}
    double = bare_step(net, 2 * batch, shape, channels_last=True)
    results["batch x2, bare step"] = paired(f"A batch {batch}, B batch {2 * batch}: bare step",
                                            lambda: images_per_s(steps[True], batch),
                                            lambda: images_per_s(double, 2 * batch))
    evals = {size: eval_pass(net, size, shape) for size in (batch, 1024)}
    results["eval batch 1024"] = paired(f"A eval batch {batch}, B eval batch 1024: validation forward",
                                        lambda: images_per_s(evals[batch], batch * (2048 // batch), calls=2),
                                        lambda: images_per_s(evals[1024], 2048, calls=2))
    try:
        start = time.perf_counter()
        compiled = bare_step(net, batch, shape, channels_last=True, compile=True)
        compiled()
        print(f"  torch.compile (inductor, CPU): compiled in {time.perf_counter() - start:.1f} s", flush=True)
        results["torch.compile"] = paired("A eager, B torch.compile (inductor): bare step, after compiling",
                                          lambda: images_per_s(steps[True], batch),
                                          lambda: images_per_s(compiled, batch))
    except Exception as exc:  # noqa: BLE001 - no C++ compiler, an inductor bug: the option is reported as failed
        print(f"  torch.compile (inductor, CPU) failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    threads = torch.get_num_threads()
    results["one-thread cells at once"] = paired(
        f"A one cell, {threads} threads; B {threads} cells at once, 1 thread each: images/s",
        lambda: cells_at_once(1, threads, 10 * threads, batch), lambda: cells_at_once(threads, 1, 10, batch))
    loops = {cl: (lambda cl=cl: loop_run(budget, work, 100 + cl, channels_last=cl)["throughput"])
             for cl in (True, False)}
    results["contiguous vs channels-last, full loop"] = paired("A channels-last, B contiguous: full train() loop",
                                                               loops[True], loops[False])
    return results


def child(threads: int, steps: int, batch_size: int) -> None:
    """One process of the threads test: the narrow baseline's bare step (channels-last), `steps` times on `threads`
    threads, started when a line arrives on stdin."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from narrow_throughput import setting_budget

    torch.set_num_threads(threads)
    keep_freed_memory()
    budget = setting_budget()
    step = bare_step(budget["cell"].build(), batch_size, budget["input_shape"], channels_last=True)
    step()
    print("ready", flush=True)
    sys.stdin.readline()
    start = time.monotonic()
    for _ in range(steps):
        step()
    print(json.dumps({"start": start, "end": time.monotonic()}))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        sys.exit(child(*(int(a) for a in sys.argv[2:5])))
    sys.exit(__doc__)
