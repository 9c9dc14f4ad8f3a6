"""Redraw the committed report figures from the committed results, with the code as it is now.

    python scripts/redraw_figures.py            # plots/figures and every reference/<run>/figures
    python scripts/redraw_figures.py --only reference/fashion-mnist

Each run's results/results.csv (and curves.csv beside it) are drawn by blockzoo.report.figures.draw_all with
the leaderboard table of the same results (blockzoo.report.leaderboard.leaderboard_table, what the aggregate
stage publishes), into the run's figures folder: plots/figures for the pipeline's own results/, figures/ for
a reference run. Only draw_all's figures are redrawn; the macro_* and dynamic_* figures are not.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = {".": "plots/figures", "reference/fashion-mnist": "figures", "reference/dynamic-fashion-mnist": "figures"}


def redraw(run: str) -> list[Path]:
    """Draw one run's figures; the files written."""
    from blockzoo.report.curves import read_curves
    from blockzoo.report.figures import draw_all
    from blockzoo.report.leaderboard import leaderboard_table
    from blockzoo.results import read_results

    results = ROOT / run / "results" / "results.csv"
    if not results.is_file():
        raise SystemExit(f"error: {results} does not exist: give a run folder with results/results.csv "
                         f"(one of {', '.join(RUNS)})")
    frame = read_results(results)
    curves_path = results.parent / "curves.csv"
    curves = read_curves(curves_path) if curves_path.is_file() else None
    if curves is not None and curves.empty:
        curves = None
    return draw_all(frame, curves, ROOT / run / RUNS[run], leaderboard=leaderboard_table(frame, curves))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(RUNS), help="redraw this run only (default: every run)")
    args = parser.parse_args(argv)
    for run in [args.only] if args.only else RUNS:
        for path in redraw(run):
            print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
