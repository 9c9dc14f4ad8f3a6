"""blockzoo.benchmark: the record, the statistics, dtype/device checks (tiny settings, CPU)."""
import os
import subprocess
import sys
import time

import pytest
import torch
from torch import nn

from blockzoo import BlockzooError, results
from blockzoo.benchmark import latency
from blockzoo.benchmark.latency import (
    SPREAD_TARGET,
    check_dtype,
    latency_stats,
    time_forward,
    time_stably,
    timing_settings,
)
from blockzoo.benchmark.load import BUSY_OTHERS_SHARE, Load, LoadWatch
from blockzoo.benchmark.measure import benchmark_cell
from blockzoo.cell import Cell
from blockzoo.settings import BenchmarkSettings, ScaffoldSpec

TINY = {"batch_size": 4, "warmup": 1, "repeats": 2}
SMALL = ScaffoldSpec(num_blocks=1, base_channels=8)


def benchmark_block(block, position, **settings):
    return benchmark_cell(Cell(block, position, SMALL), BenchmarkSettings(**{"device": "cpu", **settings}))


def assert_consistent(benchmark: dict) -> None:
    assert benchmark["latency_b1_ms_p10"] <= benchmark["latency_b1_ms"] <= benchmark["latency_b1_ms_p90"]
    assert benchmark["latency_ms_p10"] <= benchmark["latency_ms"] <= benchmark["latency_ms_p90"]
    assert benchmark["throughput"] == pytest.approx(benchmark["batch_size"] * 1e3 / benchmark["latency_ms"])
    assert benchmark["train_form_throughput"] == pytest.approx(
        benchmark["batch_size"] * 1e3 / benchmark["train_form_latency_ms"])
    assert all(benchmark[name] > 0
               for name in ("latency_b1_ms", "latency_ms", "train_form_latency_b1_ms", "train_form_latency_ms"))


def test_record_validates_and_is_consistent():
    record = benchmark_block("ResNetBasicBlock", "mid", **TINY)
    results.validate(record)
    benchmark = record["benchmark"]
    assert_consistent(benchmark)
    assert {k: benchmark[k] for k in ("device", "dtype", "channels_last", "batch_size", "warmup", "repeats")} == {
        "device": "cpu", "dtype": "float32", "channels_last": False, "batch_size": 4, "warmup": 1, "repeats": 2,
    }
    assert benchmark["threads"] == benchmark["env"]["threads"] == torch.get_num_threads()
    assert record["scaffold"]["base_channels"] == 8


def test_re_parameterisable_block_bf16_channels_last_one_thread():
    threads_before = torch.get_num_threads()
    record = benchmark_block("MobileOneBlock", "early", dtype="bf16", channels_last=True, threads=1, **TINY)
    results.validate(record)
    benchmark = record["benchmark"]
    assert_consistent(benchmark)
    assert (benchmark["dtype"], benchmark["channels_last"], benchmark["threads"]) == ("bfloat16", True, 1)
    assert torch.get_num_threads() == threads_before


def test_latency_stats():
    stats = latency_stats([5.0, 1.0, 3.0, 2.0, 4.0], batch_size=8)
    assert stats["median"] == 3.0
    assert stats["p10"] == pytest.approx(1.4) and stats["p90"] == pytest.approx(4.6)
    assert stats["throughput"] == pytest.approx(8 / 3e-3)


def test_time_forward_counts_calls():
    calls = []
    model = nn.Identity()
    model.register_forward_hook(lambda *args: calls.append(torch.is_inference_mode_enabled()))
    times = time_forward(model, torch.zeros(1), warmup=2, repeats=3)
    assert len(times) == 3 and all(t >= 0 for t in times)
    assert calls == [True] * 5


def test_timing_settings_are_restored():
    before = torch.get_num_threads(), torch.backends.cudnn.benchmark
    with timing_settings(1):
        assert torch.get_num_threads() == 1 and torch.backends.cudnn.benchmark
    assert (torch.get_num_threads(), torch.backends.cudnn.benchmark) == before
    with pytest.raises(BlockzooError, match="benchmark.threads must be an integer from 1 to 1024"):
        BenchmarkSettings(threads=0)


@pytest.mark.parametrize("name,expected", [("fp32", torch.float32), ("float32", torch.float32),
                                           ("BF16", torch.bfloat16), ("bfloat16", torch.bfloat16)])
def test_dtype_names(name, expected):
    assert check_dtype(name, torch.device("cpu")) == expected


def test_dtype_errors_say_what_to_use(monkeypatch):
    with pytest.raises(BlockzooError, match="unknown dtype 'fp8'; use fp32, bf16 or fp16"):
        check_dtype("fp8", torch.device("cpu"))
    with pytest.raises(BlockzooError, match="use --dtype bf16 or fp32"):
        check_dtype("fp16", torch.device("cpu"))
    assert check_dtype("float16", torch.device("cuda")) == torch.float16  # no GPU needed to check the name
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Old GPU")
    with pytest.raises(BlockzooError, match=r"Old GPU\) has no bfloat16 support; use --dtype fp16"):
        check_dtype("bf16", torch.device("cuda"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_cuda_without_gpu_is_a_user_error():
    with pytest.raises(BlockzooError, match="use device cpu"):
        benchmark_block("ResNetBasicBlock", "mid", device="cuda", **TINY)


def test_bad_settings_are_user_errors():
    with pytest.raises(BlockzooError, match="benchmark.repeats must be an integer from 1 to 10000"):
        benchmark_block("ResNetBasicBlock", "mid", **{**TINY, "repeats": 0})
    with pytest.raises(BlockzooError, match="benchmark.dtype must be one of 'float32'"):
        benchmark_block("ResNetBasicBlock", "mid", **{**TINY, "dtype": "fp8"})
    with pytest.raises(BlockzooError, match="unknown position"):
        benchmark_block("ResNetBasicBlock", "middle", **TINY)


class Clock:
    """A clock that moves only when a pass says it took time: timing logic tested without the machine's timing."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


class Ticker(nn.Module):
    """A 'network' whose forward takes the given milliseconds of `clock` in turn (the last one from then on)."""

    def __init__(self, clock: Clock, *ms: float):
        super().__init__()
        self.clock, self.ms = clock, list(ms)

    def forward(self, x):
        self.clock.now += (self.ms.pop(0) if len(self.ms) > 1 else self.ms[0]) / 1e3
        return x


class QuietWatch:
    """LoadWatch on a machine where nothing else runs."""

    def __init__(self, threads: int):
        self.load = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.load = Load(others_cpu_share=0.0, own_cpu_share=1.0, load_avg_1m=None)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    """The timing code's clock and load watch, injected: the rounds' spread alone decides."""
    clock = Clock()
    monkeypatch.setattr(latency, "time", clock)
    monkeypatch.setattr(latency, "LoadWatch", QuietWatch)
    return clock


def test_a_noisy_round_is_timed_again_until_the_spread_is_small(clock):
    images = torch.zeros(2, 3, 4, 4)
    noisy_then_steady = Ticker(clock, 5, 5, 40, 5, 5, 5)  # one slow pass in the first round of 5
    measured = time_stably(noisy_then_steady, images, warmup=0, repeats=5)
    assert measured.rounds == 2 and measured.stable
    assert measured.stats["spread"] <= SPREAD_TARGET and measured.stats["median"] == pytest.approx(5)


def test_never_steady_reports_the_tightest_round_as_unstable(clock):
    always_noisy = Ticker(clock, *([2, 2, 2, 30, 30] * 2), 2, 2, 2, 2, 30, 2)
    measured = time_stably(always_noisy, torch.zeros(1, 1, 1, 1), warmup=0, repeats=5, max_rounds=3)
    assert measured.rounds == 3 and not measured.stable and measured.stats["spread"] > SPREAD_TARGET
    assert measured.stats["p90"] < 30  # the third round, the tightest of the three, is the one reported


def test_a_busy_round_does_not_count_however_tight(clock, monkeypatch):
    busy = Load(others_cpu_share=0.9, own_cpu_share=0.5, load_avg_1m=None)
    monkeypatch.setattr(QuietWatch, "__exit__", lambda self, *exc: setattr(self, "load", busy))
    measured = time_stably(Ticker(clock, 5), torch.zeros(1), warmup=0, repeats=5, max_rounds=2)
    assert measured.rounds == 2 and not measured.stable and measured.load.busy


def test_other_processes_using_the_cpus_make_the_machine_busy():
    with LoadWatch(threads=1) as quiet:
        time.sleep(0.5)
    assert quiet.load.own_cpu_share < 0.5  # sleeping uses no CPU
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 1)]
    try:
        time.sleep(0.5)  # the hogs are running
        with LoadWatch(threads=1) as busy:
            time.sleep(1.0)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert busy.load.busy and busy.load.others_cpu_share > BUSY_OTHERS_SHARE


def test_cpu_rounds_last_long_enough_unless_repeats_are_given(clock):
    fast = Ticker(clock, 1)
    measured = time_stably(fast, torch.zeros(1), warmup=1, repeats=5, max_rounds=1, min_round_s=0.05)
    assert 50 <= measured.repeats <= 51  # 1 ms passes: 0.05 s of them (51 when the division rounds up)
    assert time_stably(fast, torch.zeros(1), warmup=1, repeats=5, max_rounds=1).repeats == 5
    slow = Ticker(clock, 1000)  # passes longer than a round: the repeats asked for, no fewer
    assert time_stably(slow, torch.zeros(1), warmup=1, repeats=5, max_rounds=1, min_round_s=0.05).repeats == 5
