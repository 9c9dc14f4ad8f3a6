"""benchmark_cell(): one results record with the `benchmark` section of a cell.

At batch 1 and at a large batch. The deploy form (re-parameterised) gets median, p10 and p90; the
train form (as built) gets the median. A cell with nothing to re-parameterise has one form, timed once
and reported for both.
"""
from __future__ import annotations

import torch

from blockzoo.benchmark.latency import DEFAULT_TIMING, check_dtype, latency_stats, time_forward, timing_settings
from blockzoo.cell import Cell, deploy_form, has_deploy_form, resolve_device
from blockzoo.environment import collect_environment
from blockzoo.settings import BenchmarkSettings


def benchmark_cell(cell: Cell, settings: BenchmarkSettings | None = None) -> dict:
    """The `benchmark` record of `cell`; the large batch, warm-up and repeats default to DEFAULT_TIMING for the
    device."""
    settings = settings or BenchmarkSettings()
    device = resolve_device(settings.device)
    dtype = check_dtype(settings.dtype, device)
    default = DEFAULT_TIMING[device.type]
    warmup = default.warmup if settings.warmup is None else settings.warmup
    repeats = default.repeats if settings.repeats is None else settings.repeats
    batch_size = default.batch_size if settings.batch_size is None else settings.batch_size
    net = cell.build()
    spec = cell.scaffold
    memory_format = torch.channels_last if settings.channels_last else torch.contiguous_format
    forms = {"deploy": deploy_form(net), "train": net.eval()} if has_deploy_form(net) else {"deploy": net.eval()}

    latency: dict[tuple[str, int], dict[str, float]] = {}
    with timing_settings(settings.threads):
        for form, model in forms.items():
            model.to(device=device, dtype=dtype, memory_format=memory_format)
            for batch in (1, batch_size):
                images = torch.randn(batch, spec.in_chans, spec.input_size, spec.input_size, device=device, dtype=dtype)
                images = images.contiguous(memory_format=memory_format)
                latency[form, batch] = latency_stats(time_forward(model, images, warmup, repeats), batch)
        env = collect_environment(device)
    if "train" not in forms:
        latency["train", 1] = latency["deploy", 1]
        latency["train", batch_size] = latency["deploy", batch_size]

    deploy_b1, deploy_large = latency["deploy", 1], latency["deploy", batch_size]
    train_b1, train_large = latency["train", 1], latency["train", batch_size]
    return cell.record("benchmark", {
        "device": device.type,
        "dtype": str(dtype).removeprefix("torch."),
        "channels_last": settings.channels_last,
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
        "train_form_latency_b1_ms": train_b1["median"],
        "train_form_latency_ms": train_large["median"],
        "train_form_throughput": train_large["throughput"],
        "env": env,
    })
