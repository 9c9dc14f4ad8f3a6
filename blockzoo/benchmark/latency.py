"""Timing a network's forward pass: warm-up, timed repeats, percentiles, until the spread is small.

Eval mode under torch.inference_mode(): untimed warm-up iterations, then rounds of timed repeats (CUDA
events and cuDNN autotuning on a GPU, perf_counter on the CPU), each round watched for other processes'
load (blockzoo.benchmark.load). A round counts when its p10-p90 spread is within SPREAD_TARGET of the
median and the machine was not busy; otherwise another round runs, up to MAX_ROUNDS, and the quietest
round is reported, marked unstable.
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from blockzoo.benchmark.load import Load, LoadWatch
from blockzoo.errors import BlockzooError
from blockzoo.settings import cpu_dtype_problem

SPREAD_TARGET = 0.10  # (p90 - p10) / median of a round that counts
MAX_ROUNDS = 4

DTYPES = {
    "fp32": torch.float32, "float32": torch.float32,
    "bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
    "fp16": torch.float16, "float16": torch.float16,
}


@dataclass(frozen=True)
class Timing:
    warmup: int
    repeats: int  # the fewest timed passes per round
    batch_size: int  # the large batch
    min_round_s: float = 0.0  # more passes per round until a round lasts this long (at most MAX_REPEATS)


# a GPU forward takes milliseconds, a CPU one at batch 256 seconds (2 cores): a smaller large batch there.
# On the CPU a round of 5 passes of a 1 ms network gave p10-p90 spreads of 10-30%: rounds last 0.3 s instead.
DEFAULT_TIMING = {"cpu": Timing(warmup=2, repeats=5, batch_size=32, min_round_s=0.3),
                  "cuda": Timing(warmup=20, repeats=100, batch_size=256)}
MAX_REPEATS = 200


def check_dtype(name: str, device: torch.device) -> torch.dtype:
    dtype = DTYPES.get(str(name).lower())
    if dtype is None:
        raise BlockzooError(f"unknown dtype '{name}'; use fp32, bf16 or fp16 (or float32, bfloat16, float16)")
    if device.type == "cpu" and cpu_dtype_problem(name):
        raise BlockzooError(cpu_dtype_problem(name))
    if dtype == torch.bfloat16 and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise BlockzooError(f"this GPU ({torch.cuda.get_device_name(device)}) has no bfloat16 support; "
                            "use --dtype fp16 or fp32")
    return dtype


@contextlib.contextmanager
def timing_settings(threads: int | None):
    """`threads` torch intra-op threads (None: as they are) and cuDNN autotuning on; restored afterwards."""
    previous = torch.get_num_threads(), torch.backends.cudnn.benchmark
    if threads is not None:
        torch.set_num_threads(threads)
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
    return {"median": median, "p10": p10, "p90": p90, "throughput": batch_size / (median / 1e3),
            "spread": (p90 - p10) / median}


@dataclass(frozen=True)
class Measured:
    stats: dict[str, float]  # latency_stats() of the round reported
    load: Load  # how busy the machine was during that round
    rounds: int  # rounds timed
    repeats: int  # timed passes per round
    stable: bool  # that round's spread was within SPREAD_TARGET and the machine was not busy


def time_stably(model: nn.Module, images: torch.Tensor, warmup: int, repeats: int,
                max_rounds: int = MAX_ROUNDS, min_round_s: float = 0.0) -> Measured:
    """Rounds of `repeats` timed passes (after `warmup`) until one is quiet and tight, at most max_rounds.

    min_round_s > 0: more passes per round, up to MAX_REPEATS, so that a round lasts about that long (the
    last warm-up pass is timed to tell how many)."""
    if min_round_s > 0:
        one_pass_s = time_forward(model, images, max(0, warmup - 1), 1)[0] / 1e3
        repeats, warmup = max(repeats, min(MAX_REPEATS, math.ceil(min_round_s / max(one_pass_s, 1e-6)))), 0
    rounds: list[tuple[dict[str, float], Load]] = []
    threads = 1 if images.device.type == "cuda" else torch.get_num_threads()
    for _ in range(max_rounds):
        with LoadWatch(threads) as watch:
            times = time_forward(model, images, warmup if not rounds else 0, repeats)
        stats = latency_stats(times, len(images))
        rounds.append((stats, watch.load))
        if _counts(stats, watch.load):
            return Measured(stats, watch.load, len(rounds), repeats, True)
    stats, load = min(rounds, key=lambda r: (r[1].busy, r[0]["spread"]))
    return Measured(stats, load, len(rounds), repeats, False)


def _counts(stats: dict[str, float], load: Load) -> bool:
    return stats["spread"] <= SPREAD_TARGET and not load.busy
