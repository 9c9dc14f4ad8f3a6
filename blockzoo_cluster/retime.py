"""Time again the latencies measured on a busy machine, once the machine is quiet: `make retime`.

A timing cell (benchmark, macro_benchmark, noise_check) whose record says `busy` was timed while other processes
used over a quarter of the CPUs; the report leaves it out of the frontiers and headline latencies. This finds
those cells through DVC (the outputs of the timing stages), waits until the machine is quiet, runs them again
with `dvc repro -f -s`, and then the aggregate. A cell timed busy again stays marked, and is named.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from blockzoo.benchmark.load import BUSY_OTHERS_SHARE, others_cpu_share_now
from blockzoo_cluster.plan import dvc_repo
from blockzoo_cluster.settings import is_timing


def busy_timings(root: Path) -> list[str]:
    """The timing cells of the pipeline whose last record was timed on a busy machine."""
    found = []
    with dvc_repo(root) as repo:
        for stage in repo.index.stages:
            if not is_timing(stage.addressing):
                continue
            for out in stage.outs:
                path = Path(out.fs_path)
                try:
                    busy = json.loads(path.read_text()).get("benchmark", {}).get("busy")
                except (OSError, ValueError, AttributeError):
                    continue  # not measured yet: `dvc repro` times it
                if busy is True:
                    found.append(stage.addressing)
    return sorted(set(found))


def retime(root: Path, wait_s: float, dvc: Callable[..., str], others_share: Callable[[], float | None] = None,
           sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
           poll_s: float = 10.0) -> int:
    """Re-time the busy cells when the machine is quiet (others' CPU share at most BUSY_OTHERS_SHARE), waiting at
    most wait_s for it; 0 when none is left marked, 1 when some are (the machine stayed busy)."""
    others_share = others_share or others_cpu_share_now
    cells = busy_timings(root)
    if not cells:
        print("retime: no latency is marked busy")
        return 0
    deadline = clock() + wait_s
    while True:
        share = others_share()
        if share is None or share <= BUSY_OTHERS_SHARE:
            break
        if clock() >= deadline:
            print(f"retime: the machine is busy (other processes use {share:.0%} of the CPUs): {len(cells)} "
                  f"latencies stay marked ({', '.join(cells)}); run `make retime` again when it is quiet")
            return 1
        sleep(poll_s)
    print(f"retime: the machine is quiet; timing again {len(cells)} latencies measured busy: {', '.join(cells)}")
    dvc("repro", "-f", "-s", *cells)
    dvc("repro", "aggregate")
    left = busy_timings(root)
    if left:
        print(f"retime: {len(left)} latencies were busy again ({', '.join(left)}); run `make retime` again later")
        return 1
    print("retime: every latency is timed on a quiet machine now")
    return 0
