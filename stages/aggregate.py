"""Stage `aggregate`: the cells of this run -> results.csv, curves.csv, the leaderboard and the figures.

Usage (dvc.yaml): python stages/aggregate.py METRICS_DIR CURVES_DIR RESULTS_DIR LEADERBOARD_JSON FIGURES_DIR \
    HEADLINE_DIR
The baseline network is one cell measured once; here it becomes the baseline block's row at every position,
with the latency its noise_check stage measured at that position where there is one (the noise check).
The leaderboard is written three times (blockzoo.report.metrics.publish): every column per cell, the statistics
among them, to RESULTS_DIR/leaderboard.csv; the headline numbers per cell and block, the noise check and the
macro and dynamic entries to LEADERBOARD_JSON; and one small metrics file per cell, block and macro architecture
under HEADLINE_DIR (the tracked metrics, what `dvc metrics show` prints). The noise check of the latency is
printed and written to RESULTS_DIR/noise_check.json.
When the run has macro architectures, their dataset (every cell of the run as a point of its macro space)
is written to RESULTS_DIR/macro.csv and drawn (macro_*.png); when it has dynamic runs (BlockDrop), their
table goes to RESULTS_DIR/dynamic.csv, the leaderboard gets a `dynamic` entry, and dynamic_*.png are drawn.
"""
from __future__ import annotations

import sys
from pathlib import Path

from common import ROOT, cli_errors, stage_params

from blockzoo import atomic, results
from blockzoo.names import check_measures_something, parse_cell


def cell_records(metrics: Path, curves: Path, cells: list[str], positions: list[str], seeds: list[int]):
    """Every record of the run's cells at the positions they stand for, the curves folders of its train runs
    (block, position, seed, folder), and how many train runs have no record yet."""
    records, runs, missing_train = [], [], 0
    for name in cells:
        block, position = parse_cell(name)
        profile, benchmark = (results.read_record(metrics / section / f"{name}.json")
                              for section in ("profile", "benchmark"))
        trained = []
        for seed in seeds:
            path = metrics / "train" / f"{name}-s{seed}.json"
            if path.is_file():
                trained.append(results.read_record(path))
            else:
                missing_train += 1
        for at in positions if position is None else [position]:
            timed_again = metrics / "noise" / f"{name}-{at}.json"
            timed = results.read_record(timed_again) if position is None and timed_again.is_file() else benchmark
            records += [results.at_position(record, at) for record in (profile, timed, *trained)]
            runs += [(block, at, seed, curves / f"{name}-s{seed}") for seed in seeds
                     if (metrics / "train" / f"{name}-s{seed}.json").is_file()]
    return records, runs, missing_train


def macro_dataset(metrics: Path, curves: Path, cells: list[str], seeds: list[int], zoo: list[str]):
    """The run's cells (block cells as zoo networks, and the macro architectures) as a MacroDataset."""
    from blockzoo.macro.dataset import MacroDataset
    from blockzoo.report.curves import read_run_curves

    records, run_curves = [], {}
    for name in cells:
        paths = [metrics / section / f"{name}.json" for section in ("profile", "benchmark")]
        paths += [metrics / "train" / f"{name}-s{seed}.json" for seed in seeds]
        records += [results.read_record(path) for path in paths if path.is_file()]
        for seed in seeds:
            run_curves[(name, seed)] = read_run_curves(curves / f"{name}-s{seed}").get("val_acc")
    return MacroDataset.from_records(records, run_curves, zoo)


def dynamic_runs(metrics: Path, dynamic: dict):
    """The table of the run's dynamic runs (None without any), each with its static network's test accuracy."""
    paths = [metrics / "dynamic" / f"{cell}-s{seed}-g{gamma}.json" for cell in dynamic["cells"]
             for seed in dynamic["seeds"] for gamma in dynamic["gammas"]]
    records = [results.read_record(path) for path in paths if path.is_file()]
    if not records:
        return None
    from blockzoo.dynamic.report import dynamic_table

    static = {}
    for record in records:
        train = metrics / "train" / f"{record['cell']}-s{record['seed']}.json"
        if train.is_file():
            static[(record["cell"], record["seed"])] = results.read_record(train)["train"]["test_acc"]
    return dynamic_table(records, static)


@cli_errors
def main(metrics_dir: str, curves_dir: str, results_dir: str, leaderboard_json: str, figures_dir: str,
         headline_dir: str) -> None:
    params = stage_params()
    cells, positions, seeds = params["cells"], params["positions"], params["seeds"]
    macro_cells = params["macro_cells"]
    check_measures_something(cells, positions, macro_cells)  # the cells stage checked it before any cell ran
    from blockzoo.report.curves import curves_table
    from blockzoo.report.figures import draw_all
    from blockzoo.report.leaderboard import noise_line
    from blockzoo.report.metrics import publish

    records, runs, missing_train = cell_records(ROOT / metrics_dir, ROOT / curves_dir, cells, positions, seeds)
    text = results.write_results_csv(ROOT / results_dir / "results.csv", results.merge_records(records))
    curves = curves_table(runs)
    atomic.write_text(ROOT / results_dir / "curves.csv", curves.to_csv(index=False, lineterminator="\n"))
    frame = results.parse_results(text)
    extra = {}
    dynamic = dynamic_runs(ROOT / metrics_dir, params["dynamic"])
    if dynamic is not None:
        from blockzoo.dynamic.report import leaderboard_entries

        atomic.write_text(ROOT / results_dir / "dynamic.csv", dynamic.to_csv(index=False, lineterminator="\n"))
        extra["dynamic"] = leaderboard_entries(dynamic)
    if macro_cells:
        dataset = macro_dataset(ROOT / metrics_dir, ROOT / curves_dir, [*cells, *macro_cells], seeds, params["zoo"])
        extra["macro"] = dataset.leaderboard()
    table, check, _ = publish(frame, curves, ROOT / results_dir, ROOT / leaderboard_json, ROOT / headline_dir,
                              extra)
    written = draw_all(frame, curves if len(curves) else None, ROOT / figures_dir, leaderboard=table)
    if dynamic is not None:
        from blockzoo.dynamic.report import draw_dynamic

        written += draw_dynamic(dynamic, ROOT / figures_dir)
    print(f"aggregated {len(cells)} cells x {len(seeds)} seeds into {results_dir}/results.csv "
          f"(leaderboard: {leaderboard_json}, every column in {results_dir}/leaderboard.csv, "
          f"metrics per cell in {headline_dir}/)")
    if check is not None:
        print(noise_line(check))
    if macro_cells:
        from blockzoo.macro.figures import draw_macro

        dataset.save(ROOT / results_dir / "macro.csv")
        written += draw_macro(dataset, ROOT / figures_dir)
        print(f"{len(dataset)} architectures ({len(macro_cells)} macro ones) in {results_dir}/macro.csv")
    busy = sorted(set(frame.loc[frame["benchmark.busy"].map(lambda v: str(v).strip().lower() in ("true", "1")),
                                "cell"])) if "benchmark.busy" in frame else []
    if busy:
        print(f"note: {len(busy)} latencies were timed on a busy machine ({', '.join(busy[:5])}"
              f"{', ...' if len(busy) > 5 else ''}): left out of the frontiers and headline latencies, drawn marked; "
              "`make retime` times them again when the machine is quiet")
    if missing_train:
        print(f"note: {missing_train} training runs have no record yet; their accuracy is empty "
              "(run `dvc repro` to train them)")
    print("plots: " + ", ".join(str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
                                for path in written))


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
