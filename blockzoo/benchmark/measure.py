"""benchmark_cell(): one results record with the `benchmark` section of a cell.

At batch 1 and at a large batch. The deploy form (re-parameterised) gets median, p10 and p90; the
train form (as built) gets the median. A cell with nothing to re-parameterise has one form, timed once
and reported for both. Each timing repeats until its spread is small (blockzoo.benchmark.latency); the
record says how busy the machine was, and a busy or unsteady measurement is marked and warned about.
"""
from __future__ import annotations

import sys

import torch

from blockzoo.benchmark.latency import (
    DEFAULT_TIMING,
    SPREAD_TARGET,
    Measured,
    check_dtype,
    time_stably,
    timing_settings,
)
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
    min_round_s = default.min_round_s if settings.repeats is None else 0.0  # repeats given: exactly that many
    batch_size = default.batch_size if settings.batch_size is None else settings.batch_size
    net = cell.build()
    spec = cell.scaffold
    memory_format = torch.channels_last if settings.channels_last else torch.contiguous_format
    forms = {"deploy": deploy_form(net), "train": net.eval()} if has_deploy_form(net) else {"deploy": net.eval()}

    measured: dict[tuple[str, int], Measured] = {}
    with timing_settings(settings.threads):
        for form, model in forms.items():
            model.to(device=device, dtype=dtype, memory_format=memory_format)
            for batch in (1, batch_size):
                images = torch.randn(batch, spec.in_chans, spec.input_size, spec.input_size, device=device, dtype=dtype)
                images = images.contiguous(memory_format=memory_format)
                measured[form, batch] = time_stably(model, images, warmup, repeats, min_round_s=min_round_s)
        env = collect_environment(device)
    if "train" not in forms:
        measured["train", 1] = measured["deploy", 1]
        measured["train", batch_size] = measured["deploy", batch_size]

    deploy = [measured["deploy", 1], measured["deploy", batch_size]]
    quality = _quality(deploy)
    if quality["busy"] or not quality["stable"]:
        print(f"warning: {cell.name}: latency measured "
              + ("while other processes used " f"{quality['others_cpu_share']:.0%} of the CPUs" if quality["busy"]
                 else f"with a spread over {SPREAD_TARGET:.0%} after {max(m.rounds for m in deploy)} rounds")
              + "; marked in the results (`make retime` times it again when the machine is quiet)",
              file=sys.stderr)
    deploy_b1, deploy_large = measured["deploy", 1].stats, measured["deploy", batch_size].stats
    train_b1, train_large = measured["train", 1].stats, measured["train", batch_size].stats
    return cell.record("benchmark", {
        "device": device.type,
        "dtype": str(dtype).removeprefix("torch."),
        "channels_last": settings.channels_last,
        "threads": env["threads"],
        "batch_size": batch_size,
        "warmup": warmup,
        "repeats": measured["deploy", batch_size].repeats,  # per round; batch 1 fills its rounds the same way
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
        **quality,
        "env": env,
    })


def _quality(deploy: list[Measured]) -> dict:
    """How far the deploy form's timings can be trusted: the worst of batch 1 and the large batch."""
    others = [m.load.others_cpu_share for m in deploy if m.load.others_cpu_share is not None]
    return {
        "latency_spread": max(m.stats["spread"] for m in deploy),
        "rounds": max(m.rounds for m in deploy),
        "stable": all(m.stable for m in deploy),
        "busy": any(m.load.busy for m in deploy),
        "others_cpu_share": max(others) if others else None,
        "own_cpu_share": min(m.load.own_cpu_share for m in deploy),
        "load_avg_1m": deploy[-1].load.load_avg_1m,
    }
