"""Training throughput on this machine, as a fraction of its measured fp32 matmul peak.

    python scripts/bench_train_throughput.py [--block ResNetBasicBlock] [--position mid] [--batch-size 256]
                                             [--steps 6] [--warmup 2] [--device cpu]

peak   the best of several torch.mm fp32 4096x4096x4096, GFLOP/s (2 FLOPs per multiply-add); and the same
       GEMM as a 1x1 convolution, which oneDNN runs (on AMD CPUs torch.mm's MKL uses AVX2 only)
flops  one training step per image = 3 x the forward pass (fvcore's count x 2: 1 multiply-add = 2 FLOPs)
bare   forward + backward + SGD step on one fixed batch, no loader, no Lightning; both memory formats
full   blockzoo.train.train() on a synthetic CIFAR-100-sized dataset: Lightning, the DeviceLoader with its
       crop and flip, the sgd recipe (Nesterov, warm-up + cosine, label smoothing). Two epochs of `--steps`
       steps; the record's throughput is the second (steady) epoch's training steps, loader included.
       Run with channels-last off and on (on is train()'s default).
Peaks and bare steps are measured before and after the full runs and the best kept. Run it on an
otherwise idle machine: the load average is printed; other processes on the cores lower every figure.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from timm.optim import param_groups_weight_decay

from blockzoo.cell import Cell
from blockzoo.environment import cpu_model
from blockzoo.profile.flops import count_flops
from blockzoo.scaffold import ScaffoldNet
from blockzoo.settings import DataSettings, TrainSettings
from blockzoo.train.module import to_channels_last
from blockzoo.train.recipes import RECIPES
from blockzoo.train.run import train


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
                         warmup: int, steps: int) -> float:
    """images/s of forward + backward + SGD (the sgd recipe's optimiser) on one fixed batch."""
    torch.manual_seed(0)
    net = ScaffoldNet(block, position).to(device)
    x = torch.randn(batch_size, 3, 32, 32, device=device)
    y = torch.randint(0, 100, (batch_size,), device=device)
    if channels_last:
        net, x = to_channels_last(net), x.contiguous(memory_format=torch.channels_last)
    recipe = RECIPES["sgd"]
    optimizer = torch.optim.SGD(param_groups_weight_decay(net, recipe.weight_decay), lr=0.01, momentum=recipe.momentum,
                                nesterov=True)

    def step():
        loss = F.cross_entropy(net(x), y, label_smoothing=recipe.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(warmup):
        step()
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return steps * batch_size / (time.perf_counter() - start)


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
                         steps: int, data: tuple[Path, str], work: Path) -> float:
    out_dir = work / f"run-{'cl' if channels_last else 'nchw'}"
    settings = TrainSettings(epochs=2, batch_size=batch_size, limit_train_batches=steps, device=str(device),
                             channels_last=channels_last)
    data_settings = DataSettings(archive=str(data[0]), md5=data[1], val_size=batch_size)
    record = train(Cell(block, position), settings, data_settings, out_dir=out_dir, data_dir=work / "data",
                   progress=False)
    return record["train"]["throughput"]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--block", default="ResNetBasicBlock")
    parser.add_argument("--position", default="mid")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=6, help="timed steps (bare), steps per epoch (full)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps before the bare timing")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--skip-full", action="store_true", help="only the peak and the bare steps")
    args = parser.parse_args()
    device = torch.device(args.device)

    print(f"{cpu_model()}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
          f"load average {os.getloadavg()[0]:.2f} (1 min)", flush=True)
    # multiply-adds of the convolutions and matrix products (fvcore's own count), the work that runs at peak
    forward_macs = count_flops(ScaffoldNet(args.block, args.position), torch.randn(1, 3, 32, 32)).fvcore_total
    step_flops = 3 * 2 * forward_macs
    print(f"flops {args.block} at {args.position}: forward {2 * forward_macs / 1e9:.3f} GFLOP/image, "
          f"training step {step_flops / 1e9:.3f} GFLOP/image", flush=True)

    # Everything is measured twice, peaks and bare steps before and after the full runs, and the best
    # kept: a busy neighbour on the machine only ever makes a figure lower.
    peaks = {"torch.mm": [], "oneDNN 1x1 conv": []}
    bare: dict[bool, list[float]] = {False: [], True: []}
    full: dict[bool, float] = {}

    def measure_peaks_and_bare() -> None:
        peaks["torch.mm"].append(matmul_peak_gflops(device))
        peaks["oneDNN 1x1 conv"].append(conv_gemm_peak_gflops(device))
        for channels_last in (False, True):
            bare[channels_last].append(bare_step_throughput(args.block, args.position, args.batch_size, channels_last,
                                                            device, args.warmup, args.steps))
        print(f"  measured: peaks {peaks}, bare {bare}", flush=True)

    measure_peaks_and_bare()
    if not args.skip_full:
        with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
            work = Path(tmp)
            data = write_synthetic_cifar100(work / "synthetic")
            for channels_last in (False, True):
                full[channels_last] = full_loop_throughput(args.block, args.position, args.batch_size, channels_last,
                                                           device, args.steps, data, work)
                print(f"  measured: full train(), channels-last {channels_last}: {full[channels_last]:.1f} images/s",
                      flush=True)
    measure_peaks_and_bare()

    peak_mm, peak_conv = max(peaks["torch.mm"]), max(peaks["oneDNN 1x1 conv"])
    print(f"peak  fp32 4096^3 GEMM, best of 10 (x2): torch.mm {peak_mm:.1f} GFLOP/s, "
          f"as a oneDNN 1x1 conv {peak_conv:.1f} GFLOP/s")
    print(f"{'':<54}{'images/s':>10}{'GFLOP/s':>10}{'of torch.mm peak':>18}{'of oneDNN peak':>16}")
    rows = [(f"bare step, {'channels-last' if cl else 'contiguous'}", max(bare[cl])) for cl in (False, True)]
    rows += [(f"full train() loop, {'channels-last (default)' if cl else 'contiguous'}", full[cl]) for cl in full]
    for label, images_per_s in rows:
        achieved = images_per_s * step_flops / 1e9
        print(f"{label + f', batch {args.batch_size}':<54}{images_per_s:10.1f}{achieved:10.1f}"
              f"{achieved / peak_mm:18.1%}{achieved / peak_conv:16.1%}")
    print(f"load average now {os.getloadavg()[0]:.2f} (1 min)")


if __name__ == "__main__":
    sys.exit(main())
