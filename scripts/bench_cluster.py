"""Speed-up of `python -m blockzoo_cluster run` from one worker to two, on this machine's local Ray cluster.

    python scripts/bench_cluster.py [--cells-per-run 8] [--pairs 1]

A throwaway copy of this checkout (tests/pipeline_repo.py makes it) with the tryout's data shape
(Debian's Fashion-MNIST, a 16-channel scaffold, one block beside the baseline at one position) runs the
same number of small training cells through `--jobs 1` and `--jobs 2`, each cell one thread
(cluster.train_cpus: 1), alternating; each run trains new seeds, so every cell is stale. It prints the
time of the cell phase (first cell submitted to last ended, as the driver reports it) and of the whole
command (shared stages, Ray's start, the final `dvc repro` included), and the ratios.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from pipeline_repo import git_commit_all, make_repo, run  # noqa: E402

SETTING = {
    "zoo": ["ResNetBasicBlock", "MobileOneBlock"], "block": "MobileOneBlock", "positions": ["early"],
    "scaffold": {"num_blocks": 1, "base_channels": 16},
    "data": {"dataset": "fashion-mnist", "archive": "/usr/share/datasets/fashion-mnist"},
    "train": {"epochs": 1, "batch_size": 128, "limit_train_batches": 40, "device": "cpu"},
    "cluster": {"train_cpus": 1, "train_gpus": 0, "benchmark_gpus": 0},
}


def use_seeds(repo: Path, seeds: list[int]) -> None:
    setting = {**SETTING, "seeds": seeds, "dynamic": {"seeds": seeds[:1]}}
    (repo / "conf" / "setting" / "default.yaml").write_text("# @package _global_\n" + yaml.safe_dump(setting))
    run(repo, sys.executable, "scripts/compose_params.py")
    git_commit_all(repo, f"seeds {seeds}")


def cluster_run(repo: Path, jobs: int) -> tuple[float, float]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "blockzoo_cluster", "run", "--jobs", str(jobs), "--scratch",
                           str(repo.parent / "scratch"), "train"], cwd=repo, env=env, capture_output=True, text=True)
    whole = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"cluster run --jobs {jobs} failed:\n{proc.stdout}\n{proc.stderr}")
    cells = float(re.search(r"cells ran on the cluster \(.*?\) in ([\d.]+) s", proc.stdout).group(1))
    return cells, whole


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.strip().split("\n\n")[0])
    p.add_argument("--cells-per-run", type=int, default=8, help="training cells per run (even; default 8)")
    p.add_argument("--pairs", type=int, default=1, help="1-worker / 2-worker pairs, alternating (default 1)")
    args = p.parse_args()
    seeds_per_run = max(1, args.cells_per_run // 2)  # two networks: the baseline and the block
    times: dict[int, list[tuple[float, float]]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        make_repo(repo, {**SETTING, "seeds": [0]})
        next_seed = 100
        for pair in range(args.pairs):
            for jobs in ((1, 2) if pair % 2 == 0 else (2, 1)):
                use_seeds(repo, list(range(next_seed, next_seed + seeds_per_run)))
                next_seed += seeds_per_run
                times[jobs].append(cluster_run(repo, jobs))
                print(f"--jobs {jobs}: cells {times[jobs][-1][0]:.1f} s, whole command {times[jobs][-1][1]:.1f} s",
                      flush=True)
    cells = {jobs: statistics.median(c for c, _ in runs) for jobs, runs in times.items()}
    whole = {jobs: statistics.median(w for _, w in runs) for jobs, runs in times.items()}
    print(f"\n{2 * seeds_per_run} training cells per run, 1 thread per cell (cluster.train_cpus: 1), "
          f"{os.cpu_count()} CPUs, a local Ray cluster; median of {args.pairs} run(s) each")
    print("workers | cell phase (s) | whole command (s)")
    for jobs in (1, 2):
        print(f"{jobs:7d} | {cells[jobs]:14.1f} | {whole[jobs]:17.1f}")
    print(f"speed-up 1 -> 2 workers: cell phase x{cells[1] / cells[2]:.2f}, whole command x{whole[1] / whole[2]:.2f}")


if __name__ == "__main__":
    main()
