"""The figures of a results file, drawn as PNG with their data as tidy CSV (for `dvc plots`).

  accuracy_vs_latency   mean test accuracy over seeds (95% interval, verdict) vs latency, Pareto frontier labelled
  accuracy_vs_flops     the same against FLOPs
  accuracy_by_position  grouped bars: one group per block, one bar per position, baseline as reference
  val_curves            validation accuracy per epoch from curves.csv, one small panel per block
  latency_vs_flops      cost only (always drawn; the useful figure before anything is trained)
  params_vs_flops       cost only (always drawn)

The accuracy figures draw the leaderboard's statistics (blockzoo.report.marks.STATS_COLUMNS: the 95% interval,
the verdict against the baseline, still improving); the scatter figures are described in
blockzoo.report.scatter, the others in blockzoo.report.position_figures. Rows not trained yet (no test accuracy)
are left out of the accuracy figures; diverged runs (train.status == "diverged") are left out of every mean and
listed in a footnote. Figures that cannot be drawn from the data (no accuracy, no curves) are skipped with a
printed note.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from blockzoo.errors import BlockzooError
from blockzoo.report import marks
from blockzoo.report.captions import device_text, latency_text
from blockzoo.report.curves import check_curves
from blockzoo.report.leaderboard import noise_check
from blockzoo.report.position_figures import accuracy_by_position, curve_stats, val_curves
from blockzoo.report.scatter import accuracy_scatter, cost_scatter
from blockzoo.report.style import save_csv
from blockzoo.report.summary import (
    DEFAULT_LATENCY,
    check_frame,
    check_latency_column,
    column,
    flops_column,
    numeric,
    params_column,
    summarize,
)

within_noise = marks.within_noise  # the frontier's noise rule, where the tests and readers look for it


def latency_spread(frame: pd.DataFrame, latency_column: str) -> pd.DataFrame:
    """Per block x position: the 10th and 90th percentile of the latency (NaN where the column has none) and
    whether the machine was busy while it was timed (benchmark.busy; False where not recorded)."""
    busy = column(frame, "benchmark.busy").map(lambda v: str(v).strip().lower() in ("true", "1"))
    work = pd.DataFrame({"block": frame["block"].astype(str), "position": frame["position"].astype(str),
                         "latency_p10": numeric(frame, f"{latency_column}_p10"),
                         "latency_p90": numeric(frame, f"{latency_column}_p90"), "busy": busy.astype(bool)})
    return (work.groupby(["block", "position"], sort=False)
            .agg(latency_p10=("latency_p10", "median"), latency_p90=("latency_p90", "median"), busy=("busy", "any"))
            .reset_index())


def _note(message: str) -> None:
    print(f"note: {message}")


def draw_all(results_frame: pd.DataFrame, curves_frame: pd.DataFrame | None, out_dir: str | Path, *,
             leaderboard: pd.DataFrame | None = None, latency_column: str = DEFAULT_LATENCY) -> list[Path]:
    """Draw every figure the data allows into out_dir (PNG) and out_dir/data (CSV); return the written files.

    leaderboard: the leaderboard table of the same results with its statistics columns (marks.STATS_COLUMNS),
    needed where there is accuracy to draw."""
    check_latency_column(latency_column)
    check_frame(results_frame)
    if curves_frame is not None:
        check_curves(curves_frame, "the curves frame")
    out_dir = Path(out_dir)
    written: list[Path] = []
    if results_frame.empty:
        _note("the results have no rows: nothing to draw")
        return written
    summary = summarize(results_frame, latency_column)
    cells = summary.cells.merge(latency_spread(results_frame, latency_column), on=["block", "position"], how="left")
    has_acc = bool((cells["n_seeds"] > 0).any())
    if has_acc:
        if leaderboard is None:
            raise BlockzooError("the accuracy figures draw the leaderboard's 95% intervals and verdicts: give the "
                                "leaderboard.csv the aggregate stage writes beside the results (--leaderboard)")
        cells = marks.with_stats(cells, leaderboard)
    summary = replace(summary, cells=cells)
    noise = noise_check(results_frame, latency_column)
    data_dir = out_dir / "data"
    device_short, device = device_text(results_frame, latency_column)
    stat, batch = latency_text(results_frame, latency_column)
    _, flops_form = flops_column(results_frame)
    _, params_form = params_column(results_frame)
    has_latency, has_flops, has_params = (bool(cells[c].notna().any()) for c in ("latency_ms", "flops_m", "params_m"))
    accuracy = f"{summary.dataset} test accuracy" if summary.dataset else "Test accuracy"
    latency_label = f"Latency, ms ({stat}, {batch}, {device_short})"
    flops_label = f"FLOPs of the whole network per image ({flops_form}; fvcore, 1 multiply-add = 1 FLOP)"
    no_acc = [] if has_acc else ["Accuracy is not available yet (no trained rows in this results file): "
                                 "train first, then re-run."]

    def save(name: str, data: pd.DataFrame, png: Path) -> None:
        written.append(png)
        written.append(save_csv(data, data_dir / f"{name}.csv"))

    if has_acc and has_latency:
        data = accuracy_scatter(summary, "latency_ms", f"{accuracy} vs latency ({batch}, {device_short})",
                                latency_label, f"Latency: {stat}, {batch}, measured on {device}.",
                                out_dir / "accuracy_vs_latency.png", noise)
        save("accuracy_vs_latency", data, out_dir / "accuracy_vs_latency.png")
    elif has_acc:
        _note(f"no latency in column {latency_column}: accuracy_vs_latency skipped (run the benchmark stage)")
    if has_acc and has_flops:
        data = accuracy_scatter(summary, "flops_m", f"{accuracy} vs FLOPs", flops_label,
                                f"FLOPs counted by fvcore ({flops_form}), one image.",
                                out_dir / "accuracy_vs_flops.png")
        save("accuracy_vs_flops", data, out_dir / "accuracy_vs_flops.png")
    elif has_acc:
        _note("no FLOPs in the results: accuracy_vs_flops skipped (run the profile stage)")
    if not has_acc:
        _note("no test accuracy in the results (not trained yet): "
              "accuracy_vs_latency, accuracy_vs_flops and accuracy_by_position "
              "skipped; latency_vs_flops and params_vs_flops drawn instead")
    if has_latency and has_flops:
        title = (f"Latency ({batch}, {device_short}) vs FLOPs"
                 + (" (accuracy not available yet: train first)" if not has_acc else ""))
        data = cost_scatter(summary, "flops_m", "latency_ms", title, flops_label, f"Latency, ms ({stat}, {batch})",
                            [f"Latency: {stat}, {batch}, measured on {device}.", *no_acc],
                            out_dir / "latency_vs_flops.png", noise)
        save("latency_vs_flops", data, out_dir / "latency_vs_flops.png")
    else:
        _note("latency_vs_flops skipped: the results lack "
              + " and ".join(n for n, ok in (("latency", has_latency), ("FLOPs", has_flops)) if not ok))
    if has_params and has_flops:
        title = "Parameters vs FLOPs" + (" (accuracy not available yet: train first)" if not has_acc else "")
        data = cost_scatter(summary, "flops_m", "params_m", title, flops_label,
                            f"Parameters of the whole network ({params_form})", no_acc, out_dir / "params_vs_flops.png")
        save("params_vs_flops", data, out_dir / "params_vs_flops.png")
    else:
        _note("params_vs_flops skipped: the results lack "
              + " and ".join(n for n, ok in (("parameters", has_params), ("FLOPs", has_flops)) if not ok))
    if has_acc:
        data = accuracy_by_position(summary, out_dir / "accuracy_by_position.png")
        save("accuracy_by_position", data, out_dir / "accuracy_by_position.png")
    if curves_frame is None:
        _note("no curves file: val_curves skipped (give --curves, or put curves.csv next to the results)")
    elif not np.isfinite(pd.to_numeric(curves_frame["val_acc"], errors="coerce")).any():
        _note("the curves hold no validation accuracy: val_curves skipped")
    else:
        stats = curve_stats(curves_frame, results_frame)
        if stats.empty:
            _note("the curves hold only diverged runs: val_curves skipped")
        else:
            save("val_curves", val_curves(stats, summary, out_dir / "val_curves.png"), out_dir / "val_curves.png")
    return written
