"""The figures scripts/gpu_check.sh collects on a GPU, as JSON: the bf16 matmul peak, the full-width baseline's
training throughput as a fraction of it, and a short Fashion-MNIST cell.

    python scripts/gpu_figures.py OUT_JSON [--dry-run] [--fashion-mnist DIR]

--dry-run: on the CPU, at toy sizes (fp32 peak of a 512^3 GEMM, batch 8, a few steps, 1 epoch of 5 batches): it
exercises every step of the script; its numbers mean nothing.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train_throughput import (  # noqa: E402 (beside this script)
    bare_step_throughput,
    best_seconds,
    full_loop_throughput,
    write_synthetic_cifar100,
)
from narrow_throughput import setting_budget  # noqa: E402

from blockzoo.environment import collect_environment  # noqa: E402
from blockzoo.profile.flops import count_flops  # noqa: E402
from blockzoo.scaffold import ScaffoldNet  # noqa: E402
from blockzoo.train.run import train  # noqa: E402


def matmul_peak_tflops(device: torch.device, dtype: torch.dtype, n: int, repeats: int = 20) -> float:
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    c = torch.empty(n, n, device=device, dtype=dtype)
    return 2 * n**3 / best_seconds(lambda: torch.mm(a, b, out=c), device, repeats) / 1e12


def fashion_mnist_cell(archive: str, device: torch.device, dry_run: bool, work: Path) -> dict:
    """The reference setting's baseline cell (narrow scaffold), 2 full epochs on the GPU (dry run: 1 of 5 batches)."""
    budget = setting_budget("reference")
    settings = budget["train"].replace(device=device.type, epochs=1 if dry_run else 2,
                                       limit_train_batches=5 if dry_run else None)
    data = budget["data"].replace(archive=archive)
    start = time.perf_counter()
    record = train(budget["cell"], settings, data, out_dir=work / "fashion-mnist", data_dir=work / "fm-data",
                   progress=False)
    t = record["train"]
    return {"cell": record["cell"], "epochs": settings.epochs, "batch_size": settings.batch_size,
            "precision": t["precision"], "status": t["status"], "val_acc": t["val_acc"], "test_acc": t["test_acc"],
            "throughput": t["throughput"], "wall_s": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_json")
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--fashion-mnist", default="/usr/share/datasets/fashion-mnist")
    args = parser.parse_args()
    dry = args.dry_run
    device = torch.device("cpu" if dry else "cuda")
    figures: dict = {"dry_run": dry, "env": collect_environment(device)}
    peak_dtype = torch.float32 if dry else torch.bfloat16
    peak = matmul_peak_tflops(device, peak_dtype, 512 if dry else 8192)
    figures["matmul_peak_tflops"] = {"dtype": str(peak_dtype), "n": 512 if dry else 8192, "value": peak}
    print(f"matmul peak ({peak_dtype}): {peak:.2f} TFLOP/s", flush=True)

    batch, steps = (8, 2) if dry else (256, 30)
    step_flops = 3 * 2 * count_flops(ScaffoldNet("ResNetBasicBlock", "mid"), torch.randn(1, 3, 32, 32)).fvcore_total
    bare = bare_step_throughput("ResNetBasicBlock", "mid", batch, True, device, warmup=2, steps=steps, bf16=not dry)[0]
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        work = Path(tmp)
        data = write_synthetic_cifar100(work / "synthetic", n_train=256 if dry else 50_000)
        full = full_loop_throughput("ResNetBasicBlock", "mid", batch, True, device, steps, data, work)
        figures["wide_baseline"] = {
            "cell": "ResNetBasicBlock-mid", "scaffold": "3 blocks per stage, 64 channels (the default)",
            "batch_size": batch, "steps_per_epoch": steps, "training_gflop_per_image": step_flops / 1e9,
            **{f"{name}_images_per_s": value for name, value in (("bare_step_bf16", bare), ("full_loop", full))},
            **{f"{name}_fraction_of_peak": value * step_flops / (peak * 1e12)
               for name, value in (("bare_step_bf16", bare), ("full_loop", full))}}
        print(f"wide baseline: bare step {bare:.0f} images/s, full train() loop {full:.0f} images/s = "
              f"{figures['wide_baseline']['full_loop_fraction_of_peak']:.1%} of the matmul peak", flush=True)
        figures["fashion_mnist_cell"] = fashion_mnist_cell(args.fashion_mnist, device, dry, work)
    print(f"Fashion-MNIST cell: {figures['fashion_mnist_cell']}", flush=True)
    figures["load_average"] = os.getloadavg()[0]
    Path(args.out_json).write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
