"""Stage `aggregate`: the cells of the current zoo -> results.csv, curves.csv, leaderboard and plots."""
from __future__ import annotations

import sys

from common import ROOT, BlockzooError, cell_name, cli_errors, stage_params

from blockzoo import atomic, results
from blockzoo.curves import curves_table
from blockzoo.leaderboard import build_leaderboard
from blockzoo.visualize import draw_all

METRICS = ROOT / "metrics"
RESULTS_CSV = ROOT / "results" / "results.csv"
CURVES_CSV = ROOT / "results" / "curves.csv"


def cell_records(zoo: list[str], positions: list[str], seeds: list[int]) -> tuple[list[dict], list, int]:
    records, runs, missing_train = [], [], 0
    for block in zoo:
        for position in positions:
            for section in ("profile", "benchmark"):
                records.append(results.read_record(METRICS / section / f"{cell_name(block, position)}.json"))
            for seed in seeds:
                cell = cell_name(block, position, seed)
                path = METRICS / "train" / f"{cell}.json"
                if not path.is_file():
                    missing_train += 1
                    continue
                records.append(results.read_record(path))
                runs.append((block, position, seed, ROOT / "plots" / "curves" / cell))
    return records, runs, missing_train


@cli_errors
def main() -> None:
    params = stage_params()
    zoo, positions, seeds = params["zoo"], params["positions"], params["seeds"]
    if not zoo:
        raise BlockzooError("the zoo in params.yaml is empty; list at least one block under zoo")
    records, runs, missing_train = cell_records(zoo, positions, seeds)
    results.write_results_csv(RESULTS_CSV, results.merge_records(records))
    curves = curves_table(runs)
    with atomic.atomic_path(CURVES_CSV) as tmp:
        curves.to_csv(tmp, index=False)
    frame = results.read_results(RESULTS_CSV)
    atomic.write_json(METRICS / "leaderboard.json", build_leaderboard(frame))
    written = draw_all(frame, curves if len(curves) else None, ROOT / "plots" / "figures")
    print(f"aggregated {len(zoo)} blocks x {len(positions)} positions x {len(seeds)} seeds into {RESULTS_CSV.relative_to(ROOT)}")
    if missing_train:
        print(f"note: {missing_train} training runs have no record yet; their accuracy is empty (run `dvc repro` to train them)")
    print("plots: " + ", ".join(str(path.relative_to(ROOT)) for path in written))


if __name__ == "__main__":
    sys.exit(main())
