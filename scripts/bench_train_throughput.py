"""Training throughput on this machine: the wide baseline as a fraction of the fp32 matmul peak, and the narrow
scaffold (the network every committed run trains) as a fraction of its layer-sum ceiling.

    python scripts/bench_train_throughput.py [--network both|wide|narrow] [--block ResNetBasicBlock] [--position mid]
        [--batch-size 256] [--steps 6] [--warmup 2] [--runs 5] [--device cpu] [--options]
        [--setting reference] [--narrow-runs 3] [--threads N]

The narrow part (scripts/narrow_throughput.py, its docstring says what each figure is): the layer-sum ceiling, the
full train() loop's images/s and fraction of it, the fixed cost per cell by part, and with --options the paired
A/B ratios of channels-last, batch size, torch.compile, the evaluation batch and one-thread cells at once. The
wide part, at the defaults below:

peak   the best of several torch.mm fp32 4096x4096x4096, GFLOP/s (2 FLOPs per multiply-add); and the same
       GEMM as a 1x1 convolution, which oneDNN runs (on AMD CPUs torch.mm's MKL uses AVX2 only)
flops  one training step per image = 3 x the forward pass (fvcore's count x 2: 1 multiply-add = 2 FLOPs)
bare   forward + backward + SGD step on one fixed batch, no loader, no Lightning; both memory formats
full   blockzoo.train.train() on a synthetic CIFAR-100-sized dataset: Lightning, the DeviceLoader with its
       crop and flip, the sgd recipe (Nesterov, warm-up + cosine, label smoothing). Two epochs of `--steps`
       steps; the record's throughput is the second (steady) epoch's training steps, loader included.
       `--runs` times with the defaults (median and spread printed), then with channels-last off.
ops    where the time of a full step goes (loader batch, forward, backward, SGD): torch.profiler's self
       CPU time summed per op family
--options   each option before it became (or did not become) a default, bare step, one process per
       variant: glibc malloc keeping freed memory (blockzoo.train.allocator) off/on, bf16 autocast off/on,
       torch.compile off/on (compile time printed apart)
Peaks and bare steps are measured before and after the full runs and the best kept. Run it on an
otherwise idle machine: the load average is printed; other processes on the cores lower every figure.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from timm.optim import param_groups_weight_decay

from blockzoo.cell import Cell
from blockzoo.data.loader import DeviceLoader
from blockzoo.profile.flops import count_flops
from blockzoo.scaffold import ScaffoldNet
from blockzoo.settings import DataSettings, TrainSettings
from blockzoo.train.allocator import keep_freed_memory
from blockzoo.train.module import to_channels_last
from blockzoo.train.recipes import RECIPES
from blockzoo.train.run import train

sys.path.insert(0, str(Path(__file__).resolve().parent))
from narrow_throughput import decided_by  # noqa: E402 (beside this script)


def matmul_peak_gflops(device: torch.device, n: int = 4096, repeats: int = 10) -> float:
    """The best of `repeats` torch.mm fp32 n^3, GFLOP/s."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    c = torch.empty(n, n, device=device)
    return 2 * n**3 / best_seconds(lambda: torch.mm(a, b, out=c), device, repeats) / 1e9


def conv_gemm_peak_gflops(device: torch.device, n: int = 4096, repeats: int = 10) -> float:
    """The same n^3 fp32 GEMM as a 1x1 convolution (oneDNN on CPU, the library the training convs use), GFLOP/s.

    On AMD CPUs MKL's sgemm (torch.mm) runs its AVX2 code while oneDNN uses AVX-512, so this peak can
    be far above torch.mm's, and the training step above torch.mm's "peak".
    """
    x = torch.randn(1, n, 64, 64, device=device).contiguous(memory_format=torch.channels_last)
    w = torch.randn(n, n, 1, 1, device=device).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        return 2 * n * n * 64 * 64 / best_seconds(lambda: F.conv2d(x, w), device, repeats) / 1e9


def best_seconds(fn, device: torch.device, repeats: int) -> float:
    best = float("inf")
    for i in range(repeats + 1):  # the first is a warm-up
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        if i:
            best = min(best, time.perf_counter() - start)
    return best


def bare_step_throughput(block: str, position: str, batch_size: int, channels_last: bool, device: torch.device,
                         warmup: int, steps: int, bf16: bool = False, compile: bool = False) -> tuple[float, float]:
    """images/s of forward + backward + SGD (the sgd recipe's optimiser) on one fixed batch, and the seconds
    the warm-up steps took (with compile: the compilation)."""
    step = training_step(block, position, batch_size, channels_last, device, bf16, compile)
    start = time.perf_counter()
    for _ in range(warmup):
        step()
    sync(device)
    warmup_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return steps * batch_size / (time.perf_counter() - start), warmup_s


def training_step(block: str, position: str, batch_size: int, channels_last: bool, device: torch.device,
                  bf16: bool = False, compile: bool = False, loader: DeviceLoader | None = None):
    """One training step as a function: forward, loss, backward, SGD; a batch from `loader` when given."""
    torch.manual_seed(0)
    net = ScaffoldNet(block, position).to(device)
    x = torch.randn(batch_size, 3, 32, 32, device=device)
    y = torch.randint(0, 100, (batch_size,), device=device)
    if channels_last:
        net, x = to_channels_last(net), x.contiguous(memory_format=torch.channels_last)
    forward = torch.compile(net) if compile else net
    recipe = RECIPES["sgd"]
    optimizer = torch.optim.SGD(param_groups_weight_decay(net, recipe.weight_decay), lr=0.01, momentum=recipe.momentum,
                                nesterov=True)
    batches = iter(()) if loader is None else _forever(loader)

    def step():
        xb, yb = next(batches, (x, y))
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(forward(xb), yb, label_smoothing=recipe.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def _forever(loader):
    while True:
        yield from loader


OP_FAMILIES = [  # (family, substrings of aten op names), first match wins
    ("convolution", ("convolution", "conv2d", "mkldnn_conv", "_conv_depthwise", "thnn_conv")),
    ("batch norm", ("batch_norm",)),
    ("matmul / linear", ("addmm", "::mm", "::bmm", "matmul", "linear")),
    ("activation", ("relu", "gelu", "silu", "sigmoid", "hardswish", "hardsigmoid", "threshold_backward")),
    ("pooling", ("pool",)),
    ("loss / softmax", ("cross_entropy", "log_softmax", "nll_loss", "_softmax")),
    ("optimizer (SGD)", ("_foreach",)),
    ("loader (gather, normalise)", ("take", "index", "randperm", "randint", "::pad", "::to", "_to_copy")),
    ("memory (copy, fill, alloc)", ("copy_", "fill_", "zero_", "empty", "clone", "contiguous", "cat", "stack")),
    ("elementwise", ("::add", "::mul", "::sub", "::div", "::sum", "::mean", "::where", "::neg", "::rsqrt")),
]


def op_family_table(block: str, position: str, batch_size: int, device: torch.device, data_x: torch.Tensor,
                    data_y: torch.Tensor, steps: int = 3) -> list[tuple[str, float, float]]:
    """(family, ms per step, share) of the self CPU time of full steps: the DeviceLoader's batch, forward,
    backward and SGD, channels-last (train()'s default), profiled with torch.profiler."""
    from torch.profiler import ProfilerActivity, profile

    loader = DeviceLoader(data_x, data_y, batch_size=batch_size, mean=(0.5,) * 3, std=(0.25,) * 3, device=device,
                          train=True, channels_last=True)
    step = training_step(block, position, batch_size, True, device, loader=loader)
    step(), step()  # warm-up
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    totals: dict[str, float] = {}
    for event in prof.key_averages():
        if event.key.startswith("aten::") or event.key.startswith("mkldnn"):
            family = next((f for f, keys in OP_FAMILIES if any(k in event.key for k in keys)), "other ops")
        else:
            family = "python / framework"
        totals[family] = totals.get(family, 0.0) + event.self_cpu_time_total / 1e3
    whole = sum(totals.values())
    return sorted(((f, ms / steps, ms / whole) for f, ms in totals.items()), key=lambda r: -r[1])


def write_synthetic_cifar100(root: Path, n_train: int = 50_000, n_test: int = 256) -> tuple[Path, str]:
    """A cifar-100-python folder of random images, in the real files' format (pickled dicts), and an
    md5 naming it (fetch() takes an extracted folder that is not the official one when given an md5)."""
    rng = np.random.default_rng(0)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    for name, n in (("train", n_train), ("test", n_test)):
        batch = {"data": rng.integers(0, 256, (n, 3 * 32 * 32), dtype=np.uint8),
                 "fine_labels": rng.integers(0, 100, n).tolist()}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=4))
    (folder / "meta").write_bytes(pickle.dumps({"fine_label_names": [f"class_{k}" for k in range(100)]}, protocol=4))
    return folder, hashlib.md5((folder / "train").read_bytes()).hexdigest()


def full_loop_throughput(block: str, position: str, batch_size: int, channels_last: bool, device: torch.device,
                         steps: int, data: tuple[Path, str], work: Path, run: int = 0) -> float:
    out_dir = work / f"run-{run}"
    settings = TrainSettings(epochs=2, batch_size=batch_size, limit_train_batches=steps, device=str(device),
                             channels_last=channels_last)
    data_settings = DataSettings(archive=str(data[0]), md5=data[1], val_size=batch_size)
    record = train(Cell(block, position), settings, data_settings, out_dir=out_dir, data_dir=work / "data",
                   progress=False)
    return record["train"]["throughput"]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def variant(args, name: str) -> dict:
    """One bare-step variant measured in a fresh process (the allocator setting lasts a process's life)."""
    env = {**os.environ, "BLOCKZOO_MALLOC": "default" if name == "malloc default" else "keep"}
    command = [sys.executable, __file__, "--variant", name, "--block", args.block, "--position", args.position,
               "--batch-size", str(args.batch_size), "--steps", str(args.steps), "--warmup", str(args.warmup),
               "--device", args.device]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


VARIANTS = {  # name: (channels_last, bf16, compile); the allocator comes from BLOCKZOO_MALLOC
    "defaults": (True, False, False), "malloc default": (True, False, False), "bf16 autocast": (True, True, False),
    "torch.compile": (True, False, True),
}


def run_variant(args, device: torch.device) -> None:
    keep_freed_memory()  # unless BLOCKZOO_MALLOC=default
    channels_last, bf16, compile = VARIANTS[args.variant]
    best, warmup_s = 0.0, 0.0
    for _ in range(3):
        images_per_s, seconds = bare_step_throughput(args.block, args.position, args.batch_size, channels_last, device,
                                                     args.warmup, args.steps, bf16=bf16, compile=compile)
        best, warmup_s = max(best, images_per_s), max(warmup_s, seconds)
    print(json.dumps({"images_per_s": best, "warmup_s": warmup_s}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--block", default="ResNetBasicBlock")
    parser.add_argument("--position", default="mid")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=6, help="timed steps (bare), steps per epoch (full)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps before the bare timing")
    parser.add_argument("--runs", type=int, default=5, help="full train() runs with the defaults")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--skip-full", action="store_true", help="only the peak, the bare steps and the op table")
    parser.add_argument("--options", action="store_true", help="each option off and on (bare step)")
    parser.add_argument("--network", choices=("both", "wide", "narrow"), default="both")
    parser.add_argument("--setting", default="reference", help="conf/setting/<name>.yaml: the narrow part's budget")
    parser.add_argument("--narrow-runs", type=int, default=3, help="full train() runs of the narrow scaffold")
    parser.add_argument("--threads", type=int, help="torch threads for the narrow part; default: as the setting's "
                        "cells train (its cluster.train_cpus: 1 for the reference, two cells at once), else torch's")
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)  # one variant, in a child process
    args = parser.parse_args()
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    device = torch.device(args.device)
    if args.variant:
        return run_variant(args, device)
    keep_freed_memory()  # as train() does on the CPU
    if args.network != "wide":
        from narrow_throughput import report

        report(runs=args.narrow_runs, setting=args.setting, options=args.options, threads=args.threads)
        if args.network == "narrow":
            return
    print(f"wide baseline, decided by: {decided_by(TrainSettings(device=args.device, batch_size=args.batch_size))}",
          flush=True)
    # multiply-adds of the convolutions and matrix products (fvcore's own count), the work that runs at peak
    forward_macs = count_flops(ScaffoldNet(args.block, args.position), torch.randn(1, 3, 32, 32)).fvcore_total
    step_flops = 3 * 2 * forward_macs
    print(f"flops {args.block} at {args.position}: forward {2 * forward_macs / 1e9:.3f} GFLOP/image, "
          f"training step {step_flops / 1e9:.3f} GFLOP/image", flush=True)

    # Peaks and bare steps are measured before and after the full runs and the best kept: a busy
    # neighbour on the machine only ever makes a figure lower.
    peaks = {"torch.mm": [], "oneDNN 1x1 conv": []}
    bare: dict[bool, list[float]] = {False: [], True: []}
    full: dict[bool, list[float]] = {True: [], False: []}

    def measure_peaks_and_bare() -> None:
        peaks["torch.mm"].append(matmul_peak_gflops(device))
        peaks["oneDNN 1x1 conv"].append(conv_gemm_peak_gflops(device))
        for channels_last in (False, True):
            bare[channels_last].append(bare_step_throughput(args.block, args.position, args.batch_size, channels_last,
                                                            device, args.warmup, args.steps)[0])
        print(f"  measured: peaks {peaks}, bare {bare}", flush=True)

    measure_peaks_and_bare()
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        work = Path(tmp)
        data = write_synthetic_cifar100(work / "synthetic")
        if not args.skip_full:
            for run, channels_last in enumerate([True] * args.runs + [False]):
                full[channels_last].append(full_loop_throughput(args.block, args.position, args.batch_size,
                                                                channels_last, device, args.steps, data, work, run))
                print(f"  measured: full train(), channels-last {channels_last}: {full[channels_last][-1]:.1f} "
                      "images/s", flush=True)
        images = torch.from_numpy(pickle.loads((data[0] / "train").read_bytes())["data"][:4096].reshape(-1, 3, 32, 32))
        ops = op_family_table(args.block, args.position, args.batch_size, device, images,
                              torch.randint(0, 100, (len(images),)))
    measure_peaks_and_bare()

    peak_mm, peak_conv = max(peaks["torch.mm"]), max(peaks["oneDNN 1x1 conv"])
    peak = max(peak_mm, peak_conv)
    print(f"peak  fp32 4096^3 GEMM, best of 10 (x2): torch.mm {peak_mm:.1f} GFLOP/s, "
          f"as a oneDNN 1x1 conv {peak_conv:.1f} GFLOP/s")
    print(f"{'':<58}{'images/s':>10}{'GFLOP/s':>10}{'of torch.mm':>13}{'of best peak':>14}")
    rows = [(f"bare step, {'channels-last' if cl else 'contiguous'} (best)", max(bare[cl])) for cl in (False, True)]
    rows += [(f"full train() loop, {'channels-last (default)' if cl else 'contiguous'}"
              + (f", median of {len(full[cl])}" if len(full[cl]) > 1 else ""), statistics.median(full[cl]))
             for cl in full if full[cl]]
    for label, images_per_s in rows:
        achieved = images_per_s * step_flops / 1e9
        print(f"{label + f', batch {args.batch_size}':<58}{images_per_s:10.1f}{achieved:10.1f}"
              f"{achieved / peak_mm:13.1%}{achieved / peak:14.1%}")
    if len(full[True]) > 1:
        runs = full[True]
        print(f"full loop over {len(runs)} runs: {', '.join(f'{r:.1f}' for r in runs)} images/s; "
              f"spread (max - min) / median {(max(runs) - min(runs)) / statistics.median(runs):.1%}")
    print(f"where a full step's CPU time goes (torch.profiler, self time, {args.block} at {args.position}, "
          f"batch {args.batch_size}, channels-last, loader included):")
    for family, ms, share in ops:
        print(f"  {family:<30}{ms:9.1f} ms/step{share:8.1%}")
    if args.options:
        print("options, bare step, each in a fresh process (best of 3 x "
              f"{args.steps} steps; warm-up = the first {args.warmup} steps, compile included):")
        for name in VARIANTS:
            result = variant(args, name)
            print(f"  {name:<18}{result['images_per_s']:8.1f} images/s   warm-up {result['warmup_s']:6.1f} s",
                  flush=True)
    print(f"load average now {os.getloadavg()[0]:.2f} (1 min)")


if __name__ == "__main__":
    sys.exit(main())
