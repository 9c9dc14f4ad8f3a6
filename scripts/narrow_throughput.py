"""The narrow scaffold's training speed (every committed run trains it): part of scripts/bench_train_throughput.py.

    python scripts/bench_train_throughput.py --network narrow [--runs 3] [--options]

ceiling   the layer-sum ceiling: each of the network's own (leaf) layers timed alone at the training batch,
          forward + backward, summed (blockzoo.train.throughput.layer_times; containers are never timed, so
          nothing counts twice); batch / that sum is the images/s a step could reach if it cost only its layers
bare      forward + loss + backward + SGD on one fixed batch: the ceiling plus the work between layers (residual
          adds, loss, optimiser, autograd), without the loader and Lightning
loop      blockzoo.train.train() on the real dataset with the setting's budget (Lightning, the DeviceLoader, the
          recipe, validation and test): the record's steady throughput, its fraction of the ceiling, and the
          seconds of each part of the call (blockzoo.train.throughput.PhaseTimer)
fixed     the fixed cost of one cell by part: interpreter, imports (stages/train.py's), DVC's own time for one
          stage, the data load, the validation and test passes
--options paired A/B ratios, alternated in one process (or pairs of processes): channels-last, batch size,
          torch.compile (inductor, CPU), the evaluation batch, one thread per process with two cells at once
The scaffold, dataset, batch and budget are read from conf/setting/<setting>.yaml (default: reference).
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

from blockzoo.cell import Cell
from blockzoo.data.catalogue import get_dataset_info
from blockzoo.environment import cpu_model
from blockzoo.settings import DataSettings, ScaffoldSpec, TrainSettings
from blockzoo.train.allocator import keep_freed_memory
from blockzoo.train.run import resolve, train
from blockzoo.train.throughput import PhaseTimer, layer_sum_ceiling, load_seconds

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def setting_budget(name: str = "reference") -> dict:
    """The cell, data and train settings of conf/setting/<name>.yaml (what the committed runs train)."""
    conf = yaml.safe_load((ROOT / "conf" / "setting" / f"{name}.yaml").read_text())
    data = DataSettings(**{key: conf["data"][key] for key in ("dataset", "archive") if key in conf.get("data", {})})
    spec = ScaffoldSpec.for_dataset(conf.get("scaffold"), get_dataset_info(data.dataset))
    train_conf = {key: value for key, value in conf.get("train", {}).items()}
    return {"name": name, "cell": Cell("ResNetBasicBlock", None, spec), "data": data,
            "train": TrainSettings(**train_conf), "input_shape": (spec.in_chans, spec.input_size, spec.input_size),
            "train_threads": (conf.get("cluster") or {}).get("train_cpus")}


def decided_by(settings: TrainSettings) -> str:
    """What decides the figures: CPU model, threads, allocator, memory format, precision, torch."""
    resolved = resolve(settings)
    allocator = "glibc keeps freed memory" if keep_freed_memory() else "glibc default (BLOCKZOO_MALLOC=default)"
    return (f"{cpu_model()}, {os.cpu_count()} CPUs, {torch.get_num_threads()} torch threads, allocator: {allocator}, "
            f"memory format: {'channels-last' if resolved.channels_last else 'contiguous'}, precision "
            f"{resolved.precision}, torch {torch.__version__}, load average {os.getloadavg()[0]:.2f} (1 min)")


def batch_ms(batch_size: int, images_per_s: float) -> float:
    return batch_size / images_per_s * 1e3


def loop_run(budget: dict, work: Path, run: int, **overrides) -> dict:
    """One train() call of the budget's baseline cell; its throughput, seconds by part, and wall seconds."""
    settings = budget["train"].replace(**overrides) if overrides else budget["train"]
    timer = PhaseTimer()
    start = time.perf_counter()
    record = train(budget["cell"], settings, budget["data"], out_dir=work / f"run-{run}", data_dir=work / "data",
                   progress=False, callbacks=[timer])
    wall = time.perf_counter() - start
    parts = dict(timer.seconds)
    parts["rest (build, checkpoints, record)"] = wall - sum(parts.values())
    return {"throughput": record["train"]["throughput"], "parts": parts, "wall": wall,
            "val_acc": record["train"]["val_acc"]}


def best_of_processes(command: list[str], repeats: int = 3, cwd: Path | None = None) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env=ENV, cwd=cwd)
        best = min(best, time.perf_counter() - start)
    return best


STAGE_IMPORTS = "import sys; sys.path.insert(0, 'stages'); import train; import blockzoo.train.run"


def dvc_stage_seconds(repeats: int = 3) -> float:
    """DVC's own seconds for one stage: `dvc repro -f` of a one-stage pipeline whose command is `true`, in a
    fresh git + DVC repository (the command's own time is nil: what remains is DVC's start, hashing, lock)."""
    with tempfile.TemporaryDirectory(prefix="bench-dvc-") as tmp:
        repo = Path(tmp)
        for command in (["git", "init", "-q"], [sys.executable, "-m", "dvc", "init", "-q"]):
            subprocess.run(command, cwd=repo, check=True, capture_output=True, env=ENV)
        (repo / "in.txt").write_text("in\n")
        (repo / "dvc.yaml").write_text("stages:\n  one:\n    cmd: cp in.txt out.txt\n    deps: [in.txt]\n"
                                       "    outs: [out.txt]\n")
        return best_of_processes([sys.executable, "-m", "dvc", "repro", "-f", "-q"], repeats, cwd=repo)


def fixed_costs(budget: dict, work: Path, loop: dict) -> dict[str, float]:
    """Seconds of each fixed part of one cell (not its training steps)."""
    interpreter = best_of_processes([sys.executable, "-c", "pass"])
    imports = best_of_processes([sys.executable, "-c", STAGE_IMPORTS], cwd=ROOT) - interpreter
    data = budget["data"]
    load_seconds(data.dataset, work / "data", **data.fetch_options())  # decoded once, as the download stage does
    return {"interpreter": interpreter, "imports (stages/train.py)": imports, "DVC, one stage": dvc_stage_seconds(),
            "data load": load_seconds(data.dataset, work / "data", **data.fetch_options()),
            "validation passes": loop["parts"].get("validation", 0.0), "test pass": loop["parts"].get("test", 0.0),
            "build, checkpoints, record": loop["parts"]["rest (build, checkpoints, record)"]}


def report(runs: int = 3, setting: str = "reference", options: bool = False, threads: int | None = None) -> dict:
    """threads: torch's threads for every figure; None: as the setting's cells train (its cluster.train_cpus,
    the threads the cluster runner gives each training cell: 1 for the reference, two cells at once on two
    cores), or torch's own choice when the setting names none (a local run)."""
    budget = setting_budget(setting)
    threads = threads or budget["train_threads"]
    if threads is not None:
        torch.set_num_threads(threads)
    settings, cell = budget["train"], budget["cell"]
    print(f"narrow scaffold ({setting}): {cell.name} {cell.scaffold.to_dict()}, {budget['data'].dataset}, "
          f"batch {settings.batch_size}, {settings.epochs} epochs of {settings.limit_train_batches or 'all'} batches")
    print(f"decided by: {decided_by(settings)}", flush=True)
    channels_last = resolve(settings).channels_last
    net = cell.build()
    ceilings, loops, bares = [], [], []
    from narrow_options import bare_step, images_per_s

    step_fn = bare_step(net, settings.batch_size, budget["input_shape"], channels_last=channels_last)

    def ceiling() -> None:
        ceiling_images_per_s, layers = layer_sum_ceiling(net, settings.batch_size, budget["input_shape"],
                                                         channels_last=channels_last)
        ceilings.append((ceiling_images_per_s, layers))
        bares.append(images_per_s(step_fn, settings.batch_size, calls=10))
        print(f"  measured: layer-sum ceiling {ceiling_images_per_s:.0f} images/s, bare step {bares[-1]:.0f}",
              flush=True)

    with tempfile.TemporaryDirectory(prefix="bench-narrow-") as tmp:
        work = Path(tmp)
        # One round first as a warm-up, not kept (the first in a process came out low: 829 against 1172). Then a
        # round before, between and after the loops: on these shared machines the rounds of one quiet run spread
        # by a quarter (445-586 images/s at one thread) while the loops agree within 1%, so the ceiling is the
        # rounds' median, their range printed, and the loop's fraction is given of the median and of the best.
        ceiling()
        warmup_ceiling = ceilings.pop()[0]
        bares.pop()
        ceiling()
        for run in range(runs):
            loops.append(loop_run(budget, work, run))
            print(f"  measured: full loop {loops[-1]['throughput']:.0f} images/s, parts "
                  f"{ {k: round(v, 2) for k, v in loops[-1]['parts'].items()} }", flush=True)
            ceiling()
        fixed = fixed_costs(budget, work, min(loops, key=lambda loop: loop["wall"]))
        if options:
            from narrow_options import paired_options

            paired_options(budget, work)
    rounds = sorted(ceiling for ceiling, _ in ceilings)
    median_ceiling, best_ceiling = statistics.median(rounds), rounds[-1]
    layers = min(ceilings, key=lambda c: abs(c[0] - median_ceiling))[1]  # the layer shares of the median round
    throughputs = [loop["throughput"] for loop in loops]
    loop_median, bare_median = statistics.median(throughputs), statistics.median(bares)
    by_kind: dict[str, float] = {}
    for layer in layers:
        by_kind[layer.kind] = by_kind.get(layer.kind, 0.0) + layer.seconds
    step = sum(by_kind.values())
    print(f"layer-sum ceiling, batch {settings.batch_size}, {torch.get_num_threads()} thread(s), {len(layers)} layers "
          f"each best of 10: median of {len(rounds)} rounds {median_ceiling:.0f} images/s (rounds "
          f"{', '.join(f'{c:.0f}' for c, _ in ceilings)}; warm-up round {warmup_ceiling:.0f}, not kept); "
          f"{batch_ms(settings.batch_size, median_ceiling):.1f} ms per batch: " + ", ".join(
              f"{kind} {s / step:.0%}" for kind, s in sorted(by_kind.items(), key=lambda kv: -kv[1])[:5]))
    print(f"bare step (forward, loss, backward, SGD on one batch; no loader, no Lightning), median of {len(bares)}: "
          f"{bare_median:.0f} images/s = {bare_median / median_ceiling:.1%} of the median ceiling")
    print(f"full train() loop, median of {len(throughputs)} ({', '.join(f'{t:.0f}' for t in throughputs)}): "
          f"{loop_median:.0f} images/s = {loop_median / median_ceiling:.1%} of the median layer-sum ceiling "
          f"({loop_median / best_ceiling:.1%} of its best round, {loop_median / rounds[0]:.1%} of its lowest)")
    print(f"fixed cost per cell: {sum(fixed.values()):.1f} s = "
          + ", ".join(f"{part} {seconds:.2f}" for part, seconds in fixed.items()))
    print(f"load average now {os.getloadavg()[0]:.2f} (1 min)")
    return {"threads": torch.get_num_threads(), "ceilings": [c for c, _ in ceilings], "ceiling": median_ceiling,
            "bare": bare_median, "loop": loop_median, "fraction": loop_median / median_ceiling,
            "fixed": fixed}


if __name__ == "__main__":
    print(json.dumps(report(runs=1), indent=1))
