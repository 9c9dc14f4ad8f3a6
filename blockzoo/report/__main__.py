"""python -m blockzoo.report seeds [RESULTS_CSV] [--power P] [--alpha A]
python -m blockzoo.report republish REFERENCE_FOLDER

seeds: from the spread a results table shows, how many seeds each comparison with the baseline that is not
resolved would need to be resolved (paired t over seeds, at the given power, at Holm's strictest level
alpha / m over the m comparisons), and the `dvc exp run -S 'seeds=[...]'` line that adds them.
republish: rebuild a committed reference folder's leaderboard (results/leaderboard.csv, leaderboard.json and
its cells/, blocks/, macro/ metrics files) from its committed results, without training anything.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from statistics import stdev

import pandas as pd
import yaml

from blockzoo import results
from blockzoo.errors import BlockzooError
from blockzoo.names import BASELINE_BLOCK
from blockzoo.report import stats
from blockzoo.report.summary import seed_accuracies

DEFAULT_RESULTS = "results/results.csv"
MOST_PRINTED = 50  # seeds: the longest `dvc exp run -S 'seeds=[...]'` line printed


def seeds_plan(frame, power: float = 0.8, alpha: float = stats.ALPHA) -> tuple[list[dict], list[int], int]:
    """Per unresolved comparison with the baseline (a cell and the baseline both with >= 2 seeds): the observed
    difference, the std of its per-seed differences and the seeds it needs (None: the difference is 0 or needs
    more than 1000). Also the seeds the results already have and m, the comparisons Holm corrects over."""
    from blockzoo.report.leaderboard import leaderboard_table

    table = leaderboard_table(frame)
    accuracies = seed_accuracies(frame)
    m = int(table["p_value"].notna().sum())
    plan = []
    for row in table[table["verdict"] == "not resolved"].to_dict("records"):
        cell, base = accuracies.get((row["block"], row["position"]), {}), accuracies.get((BASELINE_BLOCK,
                                                                                          row["position"]), {})
        shared = sorted(set(cell) & set(base))
        if len(shared) < 2:
            continue
        sd = stdev(cell[s] - base[s] for s in shared)
        plan.append({"cell": row["cell"], "diff": row["diff_vs_baseline"], "sd": sd, "seeds_now": len(shared),
                     "seeds_needed": stats.seeds_needed(row["diff_vs_baseline"], sd, alpha / max(m, 1), power)})
    plan.sort(key=lambda entry: math.inf if entry["seeds_needed"] is None else entry["seeds_needed"])
    have = sorted({int(s) for s in pd.to_numeric(frame["seed"], errors="coerce").dropna()})
    return plan, have, m


def seeds_text(plan: list[dict], have: list[int], m: int, power: float, alpha: float) -> str:
    if not plan:
        return "every comparison with the baseline that has 2 or more seeds is resolved (or none has 2 seeds)"
    lines = [f"seeds each unresolved comparison with {BASELINE_BLOCK} needs (paired t, power {power:g}, "
             f"alpha {alpha:g}, Holm's strictest level alpha/{m}), from the spread over {len(have)} seeds:",
             f"{'cell':<36} {'diff':>8} {'sd':>8} {'now':>4} {'needed':>7}"]
    for entry in plan:
        needed = ">1000" if entry["seeds_needed"] is None else str(entry["seeds_needed"])
        lines.append(f"{entry['cell']:<36} {entry['diff'] * 100:>+7.2f}p {entry['sd'] * 100:>7.2f}p "
                     f"{entry['seeds_now']:>4} {needed:>7}")
    reachable = sorted(e["seeds_needed"] for e in plan if e["seeds_needed"] is not None)
    if reachable:
        half = reachable[(len(plan) - 1) // 2] if len(reachable) * 2 >= len(plan) else reachable[-1]
        for target, what in dict.fromkeys(((half, "half of them"), (reachable[-1], "all that can be"))):
            if target > MOST_PRINTED:
                lines.append(f"to resolve {what}: {target} seeds, more than the {MOST_PRINTED} this prints a line for")
                continue
            start = max(have, default=-1) + 1
            seeds = have + list(range(start, start + max(target - len(have), 0)))
            lines.append(f"to resolve {what} ({target} seeds): dvc exp run -S 'seeds=[{', '.join(map(str, seeds))}]'")
    return "\n".join(lines)


def republish(folder: Path) -> None:
    """Rebuild the reference folder's leaderboard outputs from its results/ (no training)."""
    from blockzoo.report.metrics import publish

    source = folder / "results" / "results.csv"
    if not source.is_file():
        raise BlockzooError(f"{source} does not exist; name a reference folder with results/results.csv")
    frame = results.read_results(source)
    curves_csv = folder / "results" / "curves.csv"
    curves = pd.read_csv(curves_csv) if curves_csv.is_file() and curves_csv.stat().st_size else None
    extra = {}
    if (folder / "results" / "dynamic.csv").is_file():
        from blockzoo.dynamic.report import leaderboard_entries, read_table

        extra["dynamic"] = leaderboard_entries(read_table(folder / "results" / "dynamic.csv"))
    if (folder / "results" / "macro.csv").is_file():
        from blockzoo.macro.dataset import MacroDataset

        zoo = (yaml.safe_load((folder / "params.yaml").read_text()) or {}).get("zoo", [])
        extra["macro"] = MacroDataset.load(folder / "results" / "macro.csv", zoo).leaderboard()
    publish(frame, curves, folder / "results", folder / "leaderboard.json", folder, extra)
    print(f"republished {folder}: results/leaderboard.csv, leaderboard.json, metrics in cells/, blocks/, "
          "macro/")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m blockzoo.report", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    seeds = commands.add_parser("seeds", help="seeds needed to resolve each comparison with the baseline")
    seeds.add_argument("results_csv", nargs="?", default=DEFAULT_RESULTS)
    seeds.add_argument("--power", type=float, default=0.8)
    seeds.add_argument("--alpha", type=float, default=stats.ALPHA)
    again = commands.add_parser("republish", help="rebuild a reference folder's leaderboard from its results")
    again.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "republish":
            republish(args.folder)
            return 0
        if not (0 < args.power < 1 and 0 < args.alpha < 1):
            raise BlockzooError(f"--power and --alpha must lie between 0 and 1, got {args.power} and {args.alpha}")
        if not Path(args.results_csv).is_file():
            raise BlockzooError(f"{args.results_csv} does not exist; give a results table (results/results.csv)")
        plan, have, m = seeds_plan(results.read_results(args.results_csv), args.power, args.alpha)
        print(seeds_text(plan, have, m, args.power, args.alpha))
    except BlockzooError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
