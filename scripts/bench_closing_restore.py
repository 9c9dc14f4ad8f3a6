"""The cluster driver's closing restore: `dvc repro` against blockzoo_cluster.repro (dvc.lock written once).

    python scripts/bench_closing_restore.py [--stages 100] [--deps 30] [--rounds 2]

Builds a DVC repository in a temporary folder with STAGES stages, each depending on DEPS files (so that its
dvc.lock entry is about as long as a cell's: ~120 lines), reproduces it once to fill the run-cache, then, as the
driver finds its checkout after a cluster run (outputs and dvc.lock absent, run-cache entries present), restores
every stage with plain `dvc repro` and with `python -m blockzoo_cluster.repro`, alternately, ROUNDS times each, and
prints the seconds of each and the lines of the dvc.lock they wrote (which must be equal).
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

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "DVC_NO_ANALYTICS": "1"}


def build(repo: Path, stages: int, deps: int) -> None:
    (repo / "src").mkdir(parents=True)
    for i in range(deps):
        (repo / "src" / f"module{i}.py").write_text(f"VALUE = {i}\n")
    dep_list = ", ".join(f"src/module{i}.py" for i in range(deps))
    lines = ["stages:"]
    for i in range(stages):
        lines += [f"  cell{i}:", f"    cmd: python -c \"open('out{i}.txt', 'w').write('cell {i}')\"",
                  f"    deps: [{dep_list}]", f"    outs: [out{i}.txt]"]
    (repo / "dvc.yaml").write_text("\n".join(lines) + "\n")
    for command in (["git", "init", "-q"], [sys.executable, "-m", "dvc", "init", "-q"]):
        subprocess.run(command, cwd=repo, check=True, capture_output=True, env=ENV)
    subprocess.run([sys.executable, "-m", "dvc", "repro", "-q"], cwd=repo, check=True, env=ENV)


def restore(repo: Path, module: str, stages: int) -> tuple[float, int]:
    """Seconds to restore every stage from the run-cache, and the lines of the dvc.lock written."""
    for i in range(stages):
        (repo / f"out{i}.txt").unlink(missing_ok=True)
    (repo / "dvc.lock").unlink(missing_ok=True)
    command = [sys.executable, "-m", module, *(["repro"] if module == "dvc" else []), "-q"]
    start = time.perf_counter()
    subprocess.run(command, cwd=repo, check=True, env=ENV)
    seconds = time.perf_counter() - start
    assert all((repo / f"out{i}.txt").is_file() for i in range(stages))
    return seconds, len((repo / "dvc.lock").read_text().splitlines())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stages", type=int, default=100)
    parser.add_argument("--deps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} (1 min); {args.stages} stages of {args.deps} deps each")
    with tempfile.TemporaryDirectory(prefix="bench-restore-") as tmp:
        repo = Path(tmp) / "repo"
        build(repo, args.stages, args.deps)
        times: dict[str, list[float]] = {"dvc": [], "blockzoo_cluster.repro": []}
        lines = {}
        for _ in range(args.rounds):
            for module in times:
                seconds, lines[module] = restore(repo, module, args.stages)
                times[module].append(seconds)
                print(f"  {module}: {seconds:.1f} s, dvc.lock {lines[module]} lines", flush=True)
    plain, once = (statistics.median(times[m]) for m in times)
    print(f"restore {args.stages} stages from the run-cache: dvc repro {plain:.1f} s, blockzoo_cluster.repro "
          f"{once:.1f} s (x{plain / once:.1f}); same dvc.lock length: {len(set(lines.values())) == 1}")
    print(f"load average now {os.getloadavg()[0]:.2f} (1 min)")


if __name__ == "__main__":
    main()
