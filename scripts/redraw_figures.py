"""Redraw the committed report figures from the committed results, with the code as it is now.

    python scripts/redraw_figures.py            # plots/figures and every reference/<run>/figures
    python scripts/redraw_figures.py --only reference/fashion-mnist

Each run's results/results.csv (and curves.csv beside it) are drawn by blockzoo.report.figures.draw_all with
the leaderboard table of the same results (blockzoo.report.leaderboard.leaderboard_table, what the aggregate
stage publishes), into the run's figures folder: plots/figures for the pipeline's own results/, figures/ for
a reference run; the macro_* figures from results/macro.csv and the dynamic_* ones from results/dynamic.csv,
where the run has them.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = {".": "plots/figures", "reference/fashion-mnist": "figures", "reference/dynamic-fashion-mnist": "figures",
        "reference/macro-fashion-mnist": "figures"}


def redraw(run: str) -> list[Path]:
    """Draw one run's figures; the files written."""
    from blockzoo.dynamic.report import draw_dynamic
    from blockzoo.dynamic.report import read_table as read_dynamic_table
    from blockzoo.macro.dataset import MacroDataset
    from blockzoo.macro.figures import draw_macro
    from blockzoo.report.curves import read_curves
    from blockzoo.report.figures import draw_all
    from blockzoo.report.leaderboard import leaderboard_table
    from blockzoo.results import read_results

    results = ROOT / run / "results"
    if not (results / "results.csv").is_file():
        raise SystemExit(f"error: {results / 'results.csv'} does not exist: give a run folder with "
                         f"results/results.csv (one of {', '.join(RUNS)})")
    figures = ROOT / run / RUNS[run]
    written = []
    frame = read_results(results / "results.csv")
    if len(frame):  # as the aggregate stage draws them
        curves = read_curves(results / "curves.csv") if (results / "curves.csv").is_file() else None
        curves = None if curves is not None and curves.empty else curves
        written += draw_all(frame, curves, figures, leaderboard=leaderboard_table(frame, curves))
    if (results / "macro.csv").is_file():
        written += draw_macro(MacroDataset.load(results / "macro.csv"), figures)
    if (results / "dynamic.csv").is_file():
        written += draw_dynamic(read_dynamic_table(results / "dynamic.csv"), figures)
    return written


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
