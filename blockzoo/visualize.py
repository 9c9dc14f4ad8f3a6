"""Draw the figures of a results file (as the aggregate stage does), into a folder of your own.

    python -m blockzoo.visualize results/results.csv [--out figures]

Writes <out>/<figure>.png and their data as <out>/data/<figure>.csv (default out: ./figures, never the
pipeline's plots/figures). blockzoo.report.figures says what each figure shows.
"""
from __future__ import annotations

import sys
from pathlib import Path

from blockzoo import cli
from blockzoo.errors import BlockzooError, cli_errors

DEFAULT_OUT = Path("figures")


@cli_errors
def main(argv: list[str] | None = None) -> int:
    parser = cli.parser("blockzoo.visualize", __doc__)
    parser.add_argument("results", type=Path, help="a results.csv (the aggregate stage writes results/results.csv)")
    parser.add_argument("--curves", type=Path, default=None,
                        help="long-format per-epoch curves CSV (default: curves.csv next to the results, if there)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"folder for the PNGs; their data goes to <out>/data (default: {DEFAULT_OUT})")
    parser.add_argument("--latency-column", default="benchmark.latency_b1_ms", metavar="COLUMN",
                        help="latency column of accuracy_vs_latency (default benchmark.latency_b1_ms)")
    args = parser.parse_args(argv)
    cli.check_input_file(args.results, "results", "results file",
                         "run `dvc repro` (or the aggregate stage) first, or give the path of a results.csv")
    cli.check_input_file(args.curves, "--curves", "curves file", "run the aggregate stage, or leave out --curves")
    cli.check_output_dir(args.out, "--out")
    cli.check_output_dir(args.out / "data", "--out")  # the PNGs go to --out, their data to --out/data
    from blockzoo.report.curves import read_curves
    from blockzoo.report.figures import draw_all
    from blockzoo.report.leaderboard import leaderboard_table
    from blockzoo.report.summary import check_latency_column
    from blockzoo.results import read_results

    check_latency_column(args.latency_column)
    frame = read_results(args.results)
    if frame.empty:
        raise BlockzooError(f"results file {args.results} has no rows; run the pipeline (dvc repro) first")
    curves_path = args.curves
    if curves_path is None and (args.results.parent / "curves.csv").is_file():
        curves_path = args.results.parent / "curves.csv"
    curves = read_curves(curves_path) if curves_path is not None else None
    leaderboard = leaderboard_table(frame, curves)  # of these results, never a leaderboard.csv of another run
    for path in draw_all(frame, curves, args.out, leaderboard=leaderboard, latency_column=args.latency_column):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
