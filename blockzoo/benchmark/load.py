"""How busy the machine was while we timed: other processes' CPU use and the CPU time we actually got.

On a shared 2-core machine a latency read under load can be 3x the quiet one, and that noise used to
decide the Pareto frontier. So every timing window is watched: /proc/stat gives the CPU time all
processes used in it, our own process's CPU time is subtracted, and what is left is the others' share
of the machine. Linux only; elsewhere the figures are None and nothing is marked busy.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

BUSY_OTHERS_SHARE = 0.25  # other processes used over a quarter of the machine's CPU while we timed


@dataclass(frozen=True)
class Load:
    others_cpu_share: float | None  # other processes' CPU time / (wall time x CPUs), 0..1
    own_cpu_share: float  # our CPU time / (wall time x torch threads): below 1 when we waited for a CPU
    load_avg_1m: float | None  # the 1-minute load average when the window closed

    @property
    def busy(self) -> bool:
        return self.others_cpu_share is not None and self.others_cpu_share > BUSY_OTHERS_SHARE


class LoadWatch:
    """Watches one timing window: `with LoadWatch(threads) as watch: ...`, then watch.load."""

    def __init__(self, threads: int):
        self.threads = threads
        self.load: Load | None = None

    def __enter__(self) -> LoadWatch:
        self._machine, self._own, self._wall = _machine_cpu_s(), time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        wall = time.perf_counter() - self._wall
        own = time.process_time() - self._own
        machine = _machine_cpu_s()
        others = None
        if machine is not None and self._machine is not None and wall > 0:
            others = min(1.0, max(0.0, (machine - self._machine - own) / (wall * (os.cpu_count() or 1))))
        load_avg = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        self.load = Load(others, own / (wall * self.threads) if wall > 0 else 1.0, load_avg)


def _machine_cpu_s() -> float | None:
    """CPU seconds all processes have used since boot (user, nice, system, irq, softirq), from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in fields[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def others_cpu_share_now(window_s: float = 2.0) -> float | None:
    """Other processes' share of the machine's CPUs over the next `window_s` seconds (this process sleeps);
    None where /proc/stat cannot be read. Above BUSY_OTHERS_SHARE, a latency timed now would be marked busy."""
    with LoadWatch(threads=1) as watch:
        time.sleep(window_s)
    return watch.load.others_cpu_share
