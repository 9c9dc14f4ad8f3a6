"""Time a no-op `dvc status` and `dvc repro` on the full default pipeline (31 cells x 5 seeds).

Training 155 cells is not possible here, and the timing is DVC's own overhead, so the script makes
a copy of this checkout, writes a placeholder file for every output, records them in dvc.lock with
`dvc commit --force`, then times the commands that must find nothing to do. The cells stage is run
for real. Usage: python scripts/bench_dvc_noop.py [--repeats 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from pipeline_repo import copy_checkout  # noqa: E402  (a copy of this checkout without results)

ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def sh(repo: Path, *args: str) -> str:
    proc = subprocess.run(args, cwd=repo, env=ENV, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def write_placeholders(repo: Path) -> int:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    files = [f"{params['data']['root']}/{params['data']['dataset']}/placeholder", "results/results.csv",
             "metrics/leaderboard.json", "plots/figures/placeholder.png", "plots/data/placeholder.csv"]
    for cell in params["cells"]:
        files += [f"metrics/profile/{cell}.json", f"metrics/benchmark/{cell}.json"]
        for seed in params["seeds"]:
            files += [f"runs/{cell}-s{seed}/record.json", f"metrics/train/{cell}-s{seed}.json",
                      f"plots/curves/{cell}-s{seed}/val_acc.tsv"]
    for name in files:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(f"placeholder for {name}\n")
    return len(params["cells"]) * len(params["seeds"])


def timed(repo: Path, repeats: int, *args: str) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = sh(repo, sys.executable, "-m", "dvc", *args)
        times.append(time.perf_counter() - start)
        if "Running stage" in out:
            sys.exit(f"dvc {' '.join(args)} was not a no-op:\n{out}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        copy_checkout(repo)
        sh(repo, "git", "init", "-q")
        sh(repo, "git", "-c", "user.email=b@example.com", "-c", "user.name=bench", "add", "-A")
        sh(repo, "git", "-c", "user.email=b@example.com", "-c", "user.name=bench", "commit", "-qm", "copy")
        sh(repo, sys.executable, "-m", "dvc", "repro", "-s", "cells")
        train_cells = write_placeholders(repo)
        sh(repo, sys.executable, "-m", "dvc", "commit", "--force")
        stages = len(sh(repo, sys.executable, "-m", "dvc", "stage", "list", "--name-only").split())
        status = timed(repo, args.repeats, "status")
        repro = timed(repo, args.repeats, "repro")
    print(f"pipeline: {stages} stages ({train_cells} train cells)")
    print(f"no-op dvc status: median {statistics.median(status):.2f} s over {len(status)} runs "
          f"({', '.join(f'{t:.2f}' for t in status)})")
    print(f"no-op dvc repro:  median {statistics.median(repro):.2f} s over {len(repro)} runs "
          f"({', '.join(f'{t:.2f}' for t in repro)})")


if __name__ == "__main__":
    main()
