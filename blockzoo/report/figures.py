"""The figures of a results file, drawn as PNG with their data as tidy CSV (for `dvc plots`).

  accuracy_vs_latency   mean test accuracy over seeds vs latency, Pareto frontier labelled
  accuracy_vs_flops     the same against FLOPs
  accuracy_by_position  grouped bars: one group per block, one bar per position, baseline as reference
  val_curves            validation accuracy per epoch from curves.csv, one panel per position
  latency_vs_flops      cost only (always drawn; the useful figure before anything is trained)
  params_vs_flops       cost only (always drawn)

Counts (FLOPs, parameters) are ticked in K / M / G. Latency carries its p10-p90 spread as error bars, and
a frontier point whose latency lead over the next is within that spread is drawn hollow; a latency timed on
a busy machine (benchmark.busy) gets an x beside its point and is left out of the frontier. Markers that
would cover each other are drawn side by side (labels.dodge), and every such mark is explained in the caption.

Rows not trained yet (no test accuracy) are left out of the accuracy figures; diverged runs
(train.status == "diverged") are left out of every mean and listed in a footnote. Figures that
cannot be drawn from the data (no accuracy, no curves) are skipped with a printed note.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from blockzoo.names import BASELINE_BLOCK as BASELINE
from blockzoo.report.captions import device_text, excluded_lines, latency_text, seeds_text
from blockzoo.report.curves import check_curves
from blockzoo.report.labels import dodge, dodge_offsets, place_labels, shifted, step_vertices
from blockzoo.report.style import (
    BASELINE_MARK,
    BLOCK_PALETTE,
    FONT,
    FRONTIER_COLOUR,
    POSITION_COLOURS,
    block_colours,
    caption,
    maybe_log,
    new_figure,
    position_markers,
    save_csv,
    save_png,
    scatter_legends,
    si_axis,
)
from blockzoo.report.summary import (
    DEFAULT_LATENCY,
    Summary,
    check_frame,
    check_latency_column,
    column,
    flops_column,
    numeric,
    params_column,
    pareto_front,
    position_order,
    summarize,
)

COUNTS = {"flops_m": 1e6, "params_m": 1e6}  # columns in millions, drawn with K / M / G ticks
BUSY_MARK = {"marker": "x", "color": "black", "markersize": 5, "markeredgewidth": 1.4, "linestyle": ""}
BUSY_OFFSET = (5.5, 5.5)  # points: the x sits at the marker's upper right, leaving its colour and shape visible
HOLLOW = {"markerfacecolor": "white", "markeredgewidth": 1.6}
DODGE_NOTE = ("Markers that would fall on the same spot are drawn side by side, a few pixels apart, so that every "
              "block shows; their values are equal or nearly so.")


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


def within_noise(low, high) -> np.ndarray:
    """For frontier points in order of cost: True where a point's spread [low, high] overlaps the next point's,
    so that its lead (lower cost) is within the measurement's noise. Unknown spreads claim nothing."""
    low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    if not len(low):
        return np.zeros(0, dtype=bool)
    overlap = np.maximum(low[:-1], low[1:]) <= np.minimum(high[:-1], high[1:])  # False where any is NaN
    return np.append(overlap, False)


def _spread_err(shown: pd.DataFrame, value: str) -> np.ndarray | None:
    """Asymmetric error bars (2, n) from the latency value to its p10 and p90 (0 where unknown); None if none."""
    if value != "latency_ms" or shown["latency_p10"].isna().all():
        return None
    low = (shown[value] - shown["latency_p10"]).clip(lower=0).fillna(0)
    high = (shown["latency_p90"] - shown[value]).clip(lower=0).fillna(0)
    return np.vstack([low.to_numpy(), high.to_numpy()])


def _cost_axis(ax, axis: str, name: str, values: pd.Series) -> bool:
    """Log scale where the data spans over a decade; K / M / G ticks on a count. Returns whether log."""
    log = maybe_log(ax, axis, values)
    if name in COUNTS:
        si_axis(ax, axis, values, COUNTS[name])
    return log


def _marks_lines(shown: pd.DataFrame, latency_axis: str | None) -> list[str]:
    """Caption lines for the latency spreads and busy machines."""
    lines = []
    if latency_axis and shown["latency_p10"].notna().any():
        lines.append(f"{'Horizontal' if latency_axis == 'x' else 'Vertical'} bars: the latency's 10th-90th "
                     "percentile over the timed iterations (the benchmark's noise).")
    if latency_axis and shown["busy"].any():
        lines.append("x beside a point: the machine was busy while its latency was timed (benchmark.busy); that "
                     "latency is not trusted and is left out of the Pareto frontier until `make retime` times it "
                     "again on a quiet machine (" + ", ".join(shown.loc[shown["busy"], "cell"]) + ").")
    return lines


def _busy_legend(shown: pd.DataFrame) -> list[Line2D]:
    if not shown["busy"].any():
        return []
    return [Line2D([], [], label="busy machine:\nlatency not trusted", **BUSY_MARK)]


def _busy_marks(fig, ax, shown: pd.DataFrame, xy: np.ndarray, offsets: np.ndarray) -> None:
    """A small x at the upper right of each point timed on a busy machine (after dodging: beside its marker)."""
    for i in np.flatnonzero(shown["busy"].to_numpy()):
        dx, dy = offsets[i] + BUSY_OFFSET
        ax.plot(*xy[i], transform=shifted(fig, ax, dx, dy), zorder=5, **BUSY_MARK)


def _accuracy_scatter(summary: Summary, x: str, title: str, xlabel: str, measured: str, path: Path) -> pd.DataFrame:
    """Mean test accuracy vs a cost (x, lower is better); one point per cell; Pareto frontier labelled.

    With latency as x: p10-p90 bars, and frontier points whose latency lead is within that noise hollow."""
    cells = summary.cells
    shown = cells[(cells["n_seeds"] > 0) & cells[x].notna() & (cells[x] > 0)].reset_index(drop=True)
    acc, err = shown["test_acc"].to_numpy() * 100, shown["test_acc_std"].to_numpy() * 100
    xerr = _spread_err(shown, x)
    # a latency timed on a busy machine is drawn (marked) but left out of the frontier until it is re-timed
    eligible = ~shown["busy"].to_numpy(dtype=bool) if x == "latency_ms" else np.ones(len(shown), dtype=bool)
    front = np.zeros(len(shown), dtype=bool)
    if eligible.any():
        front[eligible] = pareto_front(np.column_stack([shown[x].to_numpy(), acc])[eligible])
    index = np.flatnonzero(front)[np.argsort(shown[x].to_numpy()[front], kind="stable")]
    noisy = np.zeros(len(shown), dtype=bool)
    if xerr is not None:
        noisy[index] = within_noise(shown["latency_p10"].to_numpy()[index], shown["latency_p90"].to_numpy()[index])
    colours, markers = block_colours(cells["block"].unique()), position_markers(cells["position"].unique())
    blocks = sorted(shown["block"].unique(), key=lambda b: (b != BASELINE, b))
    positions = position_order(shown["position"])
    with matplotlib.rc_context(FONT):
        fig = new_figure(11.0, 6.6)
        ax = fig.add_subplot()
        artists = []
        for i, (row, a, e) in enumerate(zip(shown.itertuples(index=False), acc, err, strict=True)):
            face = {**HOLLOW, "markeredgecolor": colours[row.block]} if noisy[i] else {
                "markeredgecolor": "white", "markeredgewidth": 0.6}
            artists.append([ax.errorbar(getattr(row, x), a, yerr=None if e != e else e,
                                        xerr=None if xerr is None else xerr[:, i:i + 1], fmt=markers[row.position],
                                        color=colours[row.block], markersize=7, elinewidth=1.0, capsize=2.5,
                                        alpha=0.95, zorder=3, **face)])
        log = _cost_axis(ax, "x", x, shown[x])
        fx, fy = shown[x].to_numpy()[index], acc[index]
        frontier = []
        if len(fx):  # a grey highlighter behind the points: no block colour is grey
            ax.step(fx, fy, where="post", color=FRONTIER_COLOUR, lw=5, alpha=0.45, solid_capstyle="round", zorder=1)
            for i in index:
                artists[i] += ax.plot(shown[x].iloc[i], acc[i], "o", markersize=14, markerfacecolor="none",
                                      markeredgecolor="#555555", markeredgewidth=0.9, zorder=2)
            frontier = [Line2D([], [], color=FRONTIER_COLOUR, lw=5, alpha=0.6, marker="o", markerfacecolor="none",
                               markeredgecolor="#555555", markersize=10, label="Pareto frontier")]
            if noisy.any():
                frontier.append(Line2D([], [], color="#555555", marker="o", linestyle="", markersize=6.5,
                                       label="frontier, lead within\nlatency noise", **HOLLOW))
        frontier += _busy_legend(shown) if x == "latency_ms" else []
        ax.margins(x=0.08, y=0.12)
        low, high = ax.get_ylim()
        if high - low < 2.0:  # a single cell or near-equal accuracies: no microscopic y axis
            middle = (low + high) / 2
            ax.set_ylim(middle - 1.0, middle + 1.0)
        ax.set_title(title, loc="left", fontweight="bold")
        ax.set_xlabel(xlabel + (" (log scale)" if log else ""))
        ax.set_ylabel(f"{summary.dataset + ' t' if summary.dataset else 'T'}est accuracy, % "
                      f"({'mean over seeds' if summary.n_seeds[1] > 1 else 'one seed'})")
        ax.grid(True, which="major", color="#e5e5e5", lw=0.7, zorder=0)
        ax.set_axisbelow(True)
        scatter_legends(ax, colours, markers, blocks, positions, frontier)
        seeds = seeds_text(summary)
        lines = [f"Each point: one block at one position; test accuracy "
                 f"{'of' if summary.n_seeds[1] == 1 else 'is the mean over'} {seeds} of training. "
                 + ("Error bars: +/-1 standard deviation over seeds. " if summary.n_seeds[1] >= 2 else
                    "Only 1 seed per cell: no error bars (train more seeds to see the spread). ")
                 + f"{measured} Grey step line through ringed points: the Pareto frontier, "
                 "the cells that no other cell beats on both axes "
                 "(lower cost and higher accuracy); they are labelled block@position."
                 + (" Hollow frontier points are faster than the next frontier point only within noise (their "
                    "latency spreads overlap): not a clear win." if noisy.any() else "")]
        lines += _marks_lines(shown, "x" if x == "latency_ms" else None) + excluded_lines(summary)
        dodged = _caption_and_dodge(fig, ax, np.column_stack([shown[x].to_numpy(), acc]), artists, lines)
        if x == "latency_ms":
            _busy_marks(fig, ax, shown, np.column_stack([shown[x].to_numpy(), acc]), dodged)
        bars = [((xv, a - e), (xv, a + e)) for xv, a, e in zip(shown[x], acc, err, strict=True) if e == e]
        place_labels(fig, ax, fx, fy, [f"{b}@{p}" for b, p in shown[["block", "position"]].to_numpy()[index]],
                     np.column_stack([shown[x].to_numpy(), acc]), segments=[step_vertices(fx, fy), *bars],
                     shifts=dodged[index], point_shifts=dodged)
        save_png(fig, path)
    data = shown[["cell", "block", "position", x, "test_acc", "test_acc_std", "n_seeds"]].copy()
    data["pareto"] = front
    if x == "latency_ms":
        data = data.assign(latency_p10=shown["latency_p10"], latency_p90=shown["latency_p90"],
                           within_noise=noisy, busy=shown["busy"])
    return data


def _caption_and_dodge(fig, ax, points_xy, artists, lines: list[str]) -> np.ndarray:
    """Caption the figure, then dodge its points (returns the offsets, in points). The caption says whether
    points were dodged, which depends on the layout, which depends on the caption: decided without the note."""
    caption(fig, lines)
    fig.draw_without_rendering()
    if dodge_offsets(ax, points_xy).any():
        fig.texts[-1].remove()
        caption(fig, [*lines, DODGE_NOTE])
    return dodge(fig, ax, points_xy, artists)


def _cost_scatter(
    summary: Summary, x: str, y: str, title: str, xlabel: str, ylabel: str, notes: Sequence[str], path: Path
) -> pd.DataFrame:
    """One cost against another, one point per cell; with latency as y, p10-p90 bars and busy marks."""
    cells = summary.cells
    shown = cells[cells[x].notna() & cells[y].notna() & (cells[x] > 0) & (cells[y] > 0)].reset_index(drop=True)
    yerr = _spread_err(shown, y)
    colours, markers = block_colours(cells["block"].unique()), position_markers(cells["position"].unique())
    blocks = sorted(shown["block"].unique(), key=lambda b: (b != BASELINE, b))
    positions = position_order(shown["position"])
    with matplotlib.rc_context(FONT):
        fig = new_figure(10.5, 6.2)
        ax = fig.add_subplot()
        artists = [[ax.errorbar(getattr(row, x), getattr(row, y), yerr=None if yerr is None else yerr[:, i:i + 1],
                                fmt=markers[row.position], color=colours[row.block], markersize=7.5,
                                markeredgecolor="white", markeredgewidth=0.6, elinewidth=0.9, capsize=2.0,
                                alpha=0.95, zorder=3)]
                   for i, row in enumerate(shown.itertuples(index=False))]
        extra = _busy_legend(shown) if y == "latency_ms" else []
        logx, logy = _cost_axis(ax, "x", x, shown[x]), _cost_axis(ax, "y", y, shown[y])
        ax.margins(0.08)
        ax.set_title(title, loc="left", fontweight="bold")
        ax.set_xlabel(xlabel + (" (log scale)" if logx else ""))
        ax.set_ylabel(ylabel + (" (log scale)" if logy else ""))
        ax.grid(True, which="major", color="#e5e5e5", lw=0.7)
        ax.set_axisbelow(True)
        scatter_legends(ax, colours, markers, blocks, positions, extra)
        lines = ["Each point: one block at one position of the fixed scaffold network "
                 "(whole-network numbers, one image)."] + list(notes)
        lines += _marks_lines(shown, "y" if y == "latency_ms" else None)
        dodged = _caption_and_dodge(fig, ax, shown[[x, y]].to_numpy(dtype=float), artists, lines)
        if y == "latency_ms":
            _busy_marks(fig, ax, shown, shown[[x, y]].to_numpy(dtype=float), dodged)
        save_png(fig, path)
    data = shown[["cell", "block", "position", x, y]].copy()
    if y == "latency_ms":
        data = data.assign(latency_p10=shown["latency_p10"], latency_p90=shown["latency_p90"], busy=shown["busy"])
    return data


def _accuracy_by_position(summary: Summary, path: Path) -> pd.DataFrame:
    cells = summary.cells
    trained = cells[cells["n_seeds"] > 0]
    positions = position_order(cells["position"])
    colours = {p: POSITION_COLOURS.get(p, BLOCK_PALETTE[(i + 3) % 10]) for i, p in enumerate(positions)}
    order = trained.groupby("block")["test_acc"].mean().sort_values(ascending=False).index.tolist()
    table = cells.set_index(["block", "position"])
    n_pos = len(positions)
    height = 0.8 / n_pos
    acc_values = trained["test_acc"] * 100
    low = acc_values - trained["test_acc_std"].fillna(0) * 100
    start = max(0.0, math.floor((low.min() - 3) / 5) * 5)
    with matplotlib.rc_context(FONT):
        fig = new_figure(10.5, max(4.8, 1.1 + 0.42 * len(order) * max(1, n_pos / 3) + 1.2))
        ax = fig.add_subplot()
        for j, p in enumerate(positions):
            ys, widths, errs, missing = [], [], [], []
            for i, block in enumerate(order):
                y = i - 0.4 + height * (j + 0.5)
                if (block, p) in table.index and table.loc[(block, p), "n_seeds"] > 0:
                    ys.append(y)
                    widths.append(table.loc[(block, p), "test_acc"] * 100 - start)
                    std = table.loc[(block, p), "test_acc_std"]
                    errs.append(0 if std != std else std * 100)
                else:
                    diverged = (block, p) in table.index and table.loc[(block, p), "n_diverged"] > 0
                    missing.append((y, "no result: diverged" if diverged else "no result"))
            ax.barh(ys, widths, height=height * 0.92, left=start, color=colours[p], label=p, zorder=2)
            if summary.n_seeds[1] >= 2:
                ax.errorbar(np.asarray(widths) + start, ys, xerr=errs, fmt="none", ecolor="black", elinewidth=0.9,
                            capsize=2.2, zorder=4)
            for y, text in missing:
                ax.text(start + 0.2, y, text, va="center", ha="left", fontsize=6.5, color="#888888", style="italic")
        handles = [Patch(facecolor=colours[p], label=p) for p in positions]
        baseline = {p: table.loc[(BASELINE, p), "test_acc"] * 100 for p in positions
                    if (BASELINE, p) in table.index and table.loc[(BASELINE, p), "n_seeds"] > 0}
        for j, p in enumerate(positions):  # the baseline's level at the same position, across each bar
            if p in baseline:
                ys = [i - 0.4 + height * (j + 0.5) for i, block in enumerate(order) if block != BASELINE]
                ax.vlines([baseline[p]] * len(ys), np.asarray(ys) - height * 0.5, np.asarray(ys) + height * 0.5,
                          color=BASELINE_MARK, lw=2.0, zorder=5)
        if baseline:
            handles.append(Line2D([], [], color=BASELINE_MARK, marker="|", markersize=11, markeredgewidth=2.0,
                                  linestyle="", label=f"{BASELINE} (baseline)\nat the same position"))
        ax.set_yticks(range(len(order)), [b + ("\n(baseline)" if b == BASELINE else "") for b in order])
        ax.set_ylim(len(order) - 0.5, -0.5)  # best block on top
        ax.set_xlim(left=start)
        ax.set_xlabel(f"{summary.dataset + ' t' if summary.dataset else 'T'}est accuracy, % "
                      f"(mean over seeds; axis starts at {start:g}%, not 0)")
        ax.set_title(f"Test accuracy by block and position{' (' + summary.dataset + ')' if summary.dataset else ''}",
                     loc="left", fontweight="bold")
        ax.grid(True, axis="x", color="#e5e5e5", lw=0.7)
        ax.set_axisbelow(True)
        ax.spines["left"].set_visible(False)
        ax.tick_params(axis="y", length=0)
        ax.legend(handles=handles, title="Position of the block", loc="upper left",
                  bbox_to_anchor=(1.01, 1.0), frameon=False, borderaxespad=0.0, alignment="left")
        seeds = seeds_text(summary)
        lines = [f"Bar: {'test accuracy of' if summary.n_seeds[1] == 1 else 'mean test accuracy over'} {seeds} "
                 "of one block placed at one position (early/mid/late stage) of the fixed network; "
                 + ("error bars: +/-1 standard deviation over seeds. " if summary.n_seeds[1] >= 2
                    else "only 1 seed per cell: no error bars. ")
                 + "Blocks sorted by their mean over positions, best on top."
                 + (f" Orange marks: the {BASELINE} baseline's accuracy at the bar's position ("
                    + ", ".join(f"{p} {v:.1f}%" for p, v in baseline.items()) + ")." if baseline else "")]
        lines += excluded_lines(summary)
        caption(fig, lines)
        save_png(fig, path)
    data = trained[["block", "position", "test_acc", "test_acc_std", "n_seeds"]].copy()
    rank = {b: i for i, b in enumerate(order)}
    pos_rank = {p: i for i, p in enumerate(positions)}
    return (data.assign(_b=data["block"].map(rank), _p=data["position"].map(pos_rank)).sort_values(["_b", "_p"])
            .drop(columns=["_b", "_p"]))


def _val_curves(curves: pd.DataFrame, results: pd.DataFrame, summary: Summary, path: Path) -> pd.DataFrame | None:
    curves = curves.copy()
    if "seed" not in curves.columns:
        curves["seed"] = 0
    curves["seed"] = pd.to_numeric(curves["seed"], errors="coerce")
    for name in ("epoch", "val_acc"):
        curves[name] = pd.to_numeric(curves[name], errors="coerce")
    curves = curves.dropna(subset=["epoch"])
    # diverged runs (by the results file) are left out of the mean, like everywhere else
    status = column(results, "train.status")
    bad = (results.loc[(status == "diverged").fillna(False).astype(bool).to_numpy(), ["block", "position"]]
           .assign(seed=numeric(results, "seed")))
    bad_keys = {(b, p, s) for b, p, s in bad.itertuples(index=False)}
    keep = [(b, p, s) not in bad_keys for b, p, s in curves[["block", "position", "seed"]].itertuples(index=False)]
    curves = curves[keep]
    curves = curves[np.isfinite(curves["val_acc"])]
    stats = (curves.groupby(["block", "position", "epoch"])["val_acc"]
             .agg(val_acc_mean="mean", val_acc_std="std", val_acc_min="min", val_acc_max="max", n_seeds="count")
             .reset_index())
    if stats.empty:
        return None
    stats["epoch"] = stats["epoch"].astype(int)
    positions = position_order(stats["position"])
    colours = block_colours(sorted(set(stats["block"]) | set(summary.cells["block"])))
    # legend in the order the lines end (best final accuracy first, averaged over positions)
    last = stats[stats["epoch"] == stats.groupby(["block", "position"])["epoch"].transform("max")]
    blocks = last.groupby("block")["val_acc_mean"].mean().sort_values(ascending=False).index.tolist()
    n_seeds = stats["n_seeds"]
    seeds = f"{n_seeds.min()}" if n_seeds.min() == n_seeds.max() else f"{n_seeds.min()}-{n_seeds.max()}"
    with matplotlib.rc_context(FONT):
        fig = new_figure(max(8.5, 3.5 * len(positions) + 2.8), 5.2)
        axes = fig.subplots(1, len(positions), sharey=True, squeeze=False)[0]
        for ax, p in zip(axes, positions, strict=True):
            for block in blocks:
                part = stats[(stats["block"] == block) & (stats["position"] == p)].sort_values("epoch")
                if part.empty:
                    continue
                ax.fill_between(part["epoch"], part["val_acc_min"] * 100, part["val_acc_max"] * 100,
                                color=colours[block], alpha=0.15, lw=0)
                ax.plot(part["epoch"], part["val_acc_mean"] * 100, color=colours[block], lw=1.3, label=block)
            ax.set_title(f"block at the {p} stage", loc="left")
            ax.set_xlabel("Epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(True, color="#e5e5e5", lw=0.7)
            ax.set_axisbelow(True)
        axes[0].set_ylabel(f"{summary.dataset + ' v' if summary.dataset else 'V'}alidation accuracy, %")
        handles = [Line2D([], [], color=colours[b], lw=2, label=b + (" (baseline)" if b == BASELINE else ""))
                   for b in blocks]
        fig.legend(handles=handles, title="Block (by final accuracy)", loc="outside right upper", frameon=False,
                   alignment="left")
        fig.suptitle("Validation accuracy during training, per position of the block", x=0.01, ha="left",
                     fontweight="bold", fontsize=11)
        lines = [f"Line: mean over {seeds} seed{'s' * (seeds != '1')} of one block at one position; "
                 "shaded band: min to max over seeds."
                 + (" Panels share the y axis." if len(positions) > 1 else "")]
        lines += excluded_lines(summary, with_untrained=False)
        caption(fig, lines)
        save_png(fig, path)
    return stats[["block", "position", "epoch", "val_acc_mean", "val_acc_std", "val_acc_min", "val_acc_max", "n_seeds"]]


# ---------------------------------------------------------------------------------------------
# draw_all and the command line
# ---------------------------------------------------------------------------------------------

def _note(message: str) -> None:
    print(f"note: {message}")


def draw_all(results_frame: pd.DataFrame, curves_frame: pd.DataFrame | None, out_dir: str | Path,
             *, latency_column: str = DEFAULT_LATENCY) -> list[Path]:
    """Draw every figure the data allows into out_dir (PNG) and out_dir/data (CSV); return the written files."""
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
    summary = replace(summary, cells=cells)
    data_dir = out_dir / "data"
    device_short, device = device_text(results_frame, latency_column)
    stat, batch = latency_text(results_frame, latency_column)
    _, flops_form = flops_column(results_frame)
    _, params_form = params_column(results_frame)
    has_acc = bool((cells["n_seeds"] > 0).any())
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
        data = _accuracy_scatter(summary, "latency_ms", f"{accuracy} vs latency ({batch}, {device_short})",
                                 latency_label, f"Latency: {stat}, {batch}, measured on {device}.",
                                 out_dir / "accuracy_vs_latency.png")
        save("accuracy_vs_latency", data, out_dir / "accuracy_vs_latency.png")
    elif has_acc:
        _note(f"no latency in column {latency_column}: accuracy_vs_latency skipped (run the benchmark stage)")
    if has_acc and has_flops:
        data = _accuracy_scatter(summary, "flops_m", f"{accuracy} vs FLOPs", flops_label,
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
        data = _cost_scatter(summary, "flops_m", "latency_ms", title, flops_label, f"Latency, ms ({stat}, {batch})",
                             [f"Latency: {stat}, {batch}, measured on {device}."] + no_acc,
                             out_dir / "latency_vs_flops.png")
        save("latency_vs_flops", data, out_dir / "latency_vs_flops.png")
    else:
        _note("latency_vs_flops skipped: the results lack "
              + " and ".join(n for n, ok in (("latency", has_latency), ("FLOPs", has_flops)) if not ok))
    if has_params and has_flops:
        title = "Parameters vs FLOPs" + (" (accuracy not available yet: train first)" if not has_acc else "")
        data = _cost_scatter(summary, "flops_m", "params_m", title, flops_label,
                             f"Parameters of the whole network ({params_form})", no_acc,
                             out_dir / "params_vs_flops.png")
        save("params_vs_flops", data, out_dir / "params_vs_flops.png")
    else:
        _note("params_vs_flops skipped: the results lack "
              + " and ".join(n for n, ok in (("parameters", has_params), ("FLOPs", has_flops)) if not ok))
    if has_acc:
        data = _accuracy_by_position(summary, out_dir / "accuracy_by_position.png")
        save("accuracy_by_position", data, out_dir / "accuracy_by_position.png")
    if curves_frame is None:
        _note("no curves file: val_curves skipped (give --curves, or put curves.csv next to the results)")
    elif not np.isfinite(pd.to_numeric(curves_frame["val_acc"], errors="coerce")).any():
        _note("the curves hold no validation accuracy: val_curves skipped")
    else:
        data = _val_curves(curves_frame, results_frame, summary, out_dir / "val_curves.png")
        if data is None:
            _note("the curves hold only diverged runs: val_curves skipped")
        else:
            save("val_curves", data, out_dir / "val_curves.png")
    return written
