"""Benchmark one cell: inference latency and throughput, deploy form and train form.

    python -m blockzoo.benchmark ResNetBasicBlock --position mid --device cuda [--dtype bf16]

Eval mode under torch.inference_mode(), at batch 1 and at a large batch: untimed warm-up
iterations, then timed repeats (CUDA events and cuDNN autotuning on a GPU, perf_counter on the
CPU). The deploy form (re-parameterised) gets median, p10 and p90; the train form (as built)
gets the median. A block with nothing to re-parameterise has one form, timed once and reported for both.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import torch
from torch import nn

from blockzoo import cli_common
from blockzoo.environment import collect_environment
from blockzoo.errors import BlockzooError, cli_errors
from blockzoo.profile import build_cell, cell_record, check_device, deploy_form, has_deploy_form

DTYPES = {
    "fp32": torch.float32, "float32": torch.float32,
    "bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
    "fp16": torch.float16, "float16": torch.float16,
}


@dataclass(frozen=True)
class Timing:
    warmup: int
    repeats: int


# a GPU forward takes milliseconds, a CPU one at batch 256 seconds (2 cores)
DEFAULT_TIMING = {"cpu": Timing(warmup=2, repeats=5), "cuda": Timing(warmup=20, repeats=100)}


def check_dtype(name: str, device: torch.device) -> torch.dtype:
    dtype = DTYPES.get(str(name).lower())
    if dtype is None:
        raise BlockzooError(f"unknown dtype '{name}'; use fp32, bf16 or fp16 (or float32, bfloat16, float16)")
    if dtype == torch.float16 and device.type == "cpu":
        raise BlockzooError("float16 inference is not supported on the CPU; use --dtype bf16 or fp32 there, or fp16 with --device cuda")
    if dtype == torch.bfloat16 and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise BlockzooError(f"this GPU ({torch.cuda.get_device_name(device)}) has no bfloat16 support; use --dtype fp16 or fp32")
    return dtype


def check_positive(name: str, value: int, minimum: int = 1) -> int:
    if not isinstance(value, int) or value < minimum:
        raise BlockzooError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


@contextlib.contextmanager
def timing_settings(threads: int | None):
    """`threads` torch intra-op threads (None: as they are) and cuDNN autotuning on; restored afterwards."""
    previous = torch.get_num_threads(), torch.backends.cudnn.benchmark
    if threads is not None:
        torch.set_num_threads(check_positive("threads", threads))
    torch.backends.cudnn.benchmark = True  # as timm's benchmark script; the warm-up absorbs the autotuning
    try:
        yield
    finally:
        torch.set_num_threads(previous[0])
        torch.backends.cudnn.benchmark = previous[1]


def time_forward(model: nn.Module, images: torch.Tensor, warmup: int, repeats: int) -> list[float]:
    """Milliseconds of each of `repeats` timed forward passes, after `warmup` untimed ones."""
    cuda = images.device.type == "cuda"
    times = []
    with torch.inference_mode():
        for _ in range(warmup):
            model(images)
        for _ in range(repeats):
            if cuda:
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                torch.cuda.synchronize(images.device)
                start.record()
                model(images)
                end.record()
                end.synchronize()
                times.append(start.elapsed_time(end))
            else:
                start_s = time.perf_counter()
                model(images)
                times.append((time.perf_counter() - start_s) * 1e3)
    return times


def latency_stats(times_ms: list[float], batch_size: int) -> dict[str, float]:
    p10, median, p90 = np.percentile(times_ms, [10, 50, 90]).tolist()
    return {"median": median, "p10": p10, "p90": p90, "throughput": batch_size / (median / 1e3)}


def benchmark_block(
    block: str,
    position: str,
    *,
    device: str | torch.device = "cpu",
    dtype: str = "float32",
    channels_last: bool = False,
    batch_size: int = 256,
    warmup: int | None = None,
    repeats: int | None = None,
    threads: int | None = None,
    num_blocks: int = 3,
    base_channels: int = 64,
    num_classes: int = 100,
    in_chans: int = 3,
    input_size: int = 32,
    block_modules: Iterable[str] = (),
) -> dict:
    """One results record with the `benchmark` section for `block` at `position`.

    `warmup` / `repeats` default to DEFAULT_TIMING for the device.
    """
    device = check_device(device)
    torch_dtype = check_dtype(dtype, device)
    default = DEFAULT_TIMING[device.type]
    warmup = check_positive("warmup", default.warmup if warmup is None else warmup, minimum=0)
    repeats = check_positive("repeats", default.repeats if repeats is None else repeats)
    check_positive("batch_size", batch_size)
    net, scaffold = build_cell(
        block, position, block_modules=block_modules, input_size=input_size,
        num_blocks=num_blocks, base_channels=base_channels, num_classes=num_classes, in_chans=in_chans,
    )
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    # a block with nothing to re-parameterise has one form: time it once, report it for both
    forms = {"deploy": deploy_form(net), "train": net.eval()} if has_deploy_form(net) else {"deploy": net.eval()}

    latency: dict[tuple[str, int], dict[str, float]] = {}
    with timing_settings(threads):
        for form, model in forms.items():
            model.to(device=device, dtype=torch_dtype, memory_format=memory_format)
            for batch in (1, batch_size):
                images = torch.randn(batch, in_chans, input_size, input_size, device=device, dtype=torch_dtype)
                images = images.contiguous(memory_format=memory_format)
                latency[form, batch] = latency_stats(time_forward(model, images, warmup, repeats), batch)
        env = collect_environment(device)
    if "train" not in forms:
        latency["train", 1], latency["train", batch_size] = latency["deploy", 1], latency["deploy", batch_size]

    deploy_b1, deploy_large = latency["deploy", 1], latency["deploy", batch_size]
    benchmark = {
        "device": device.type,
        "dtype": str(torch_dtype).removeprefix("torch."),
        "channels_last": channels_last,
        "threads": env["threads"],
        "batch_size": batch_size,
        "warmup": warmup,
        "repeats": repeats,
        "latency_b1_ms": deploy_b1["median"],
        "latency_b1_ms_p10": deploy_b1["p10"],
        "latency_b1_ms_p90": deploy_b1["p90"],
        "latency_ms": deploy_large["median"],
        "latency_ms_p10": deploy_large["p10"],
        "latency_ms_p90": deploy_large["p90"],
        "throughput": deploy_large["throughput"],
        "train_form_latency_b1_ms": latency["train", 1]["median"],
        "train_form_latency_ms": latency["train", batch_size]["median"],
        "train_form_throughput": latency["train", batch_size]["throughput"],
        "env": env,
    }
    return cell_record(block, position, scaffold, "benchmark", benchmark)


def print_benchmark(record: dict) -> None:
    b = record["benchmark"]
    large = b["batch_size"]
    rows = [
        ("deploy (re-parameterised)", 1, f"{b['latency_b1_ms']:.2f}", f"{b['latency_b1_ms_p10']:.2f}", f"{b['latency_b1_ms_p90']:.2f}", f"{1e3 / b['latency_b1_ms']:,.0f}"),
        ("deploy (re-parameterised)", large, f"{b['latency_ms']:.2f}", f"{b['latency_ms_p10']:.2f}", f"{b['latency_ms_p90']:.2f}", f"{b['throughput']:,.0f}"),
        ("train (as built)", 1, f"{b['train_form_latency_b1_ms']:.2f}", "", "", f"{1e3 / b['train_form_latency_b1_ms']:,.0f}"),
        ("train (as built)", large, f"{b['train_form_latency_ms']:.2f}", "", "", f"{b['train_form_throughput']:,.0f}"),
    ]
    notes = [
        f"{b['device']} ({b['env']['gpu_model'] or b['env']['cpu_model']}), {b['dtype']}, "
        f"{'channels-last' if b['channels_last'] else 'contiguous'}, {b['threads']} threads; eval mode, inference_mode; "
        f"{b['warmup']} warm-up + {b['repeats']} timed iterations per row"
    ]
    cli_common.print_table(
        f"{record['block']} at {record['position']}: inference latency",
        ["form", "batch", "median ms", "p10 ms", "p90 ms", "images/s"], rows, notes,
    )


@cli_errors
def main(argv: list[str] | None = None) -> int:
    parser = cli_common.cell_parser("blockzoo.benchmark", __doc__)
    parser.add_argument("--dtype", default="fp32", help="fp32, bf16 or fp16 (default fp32)")
    parser.add_argument("--channels-last", action="store_true", help="channels-last memory format")
    parser.add_argument("--batch-size", type=int, default=256, metavar="N", help="the large batch (default 256)")
    for name, help_text in (("warmup", "untimed iterations"), ("repeats", "timed iterations")):
        defaults = ", ".join(f"{device} {getattr(timing, name)}" for device, timing in DEFAULT_TIMING.items())
        parser.add_argument(f"--{name}", type=int, metavar="N", help=f"{help_text} (default {defaults})")
    parser.add_argument("--threads", type=int, metavar="N", help="torch intra-op threads (default: torch's)")
    args = parser.parse_args(argv)
    record = benchmark_block(
        args.block, args.position, device=args.device, dtype=args.dtype, channels_last=args.channels_last,
        batch_size=args.batch_size, warmup=args.warmup, repeats=args.repeats, threads=args.threads,
        **cli_common.scaffold_arguments(args),
    )
    return cli_common.show_and_write(record, print_benchmark, args.output)


if __name__ == "__main__":
    raise SystemExit(main())
