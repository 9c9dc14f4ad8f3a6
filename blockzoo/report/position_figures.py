"""The figures by position of the block: test accuracy as grouped bars (one group per block, a bar per position,
the baseline's level across each), and validation accuracy during training, one small panel per block."""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from blockzoo.names import BASELINE_BLOCK as BASELINE
from blockzoo.report import marks
from blockzoo.report.captions import excluded_lines, seeds_text
from blockzoo.report.labels import mark_beside
from blockzoo.report.style import (
    BASELINE_MARK,
    BLOCK_PALETTE,
    FONT,
    POSITION_COLOURS,
    caption,
    grid,
    header,
    legend_outside,
    new_figure,
    save_png,
    title,
)
from blockzoo.report.summary import Summary, column, numeric, position_order, row_cell

PANEL_COLUMNS = 4  # validation curves: panels per row


def _bar_start(limits: marks.Bulk) -> float:
    """Where the bars start: the bulk's low end, rounded down to a whole (5 on a wide axis) percent."""
    step = 5 if limits.high - limits.low > 20 else 1
    return max(0.0, math.floor(limits.low / step) * step)


def _interval(ax, acc: float, y: float, low: float, high: float, limits: marks.Bulk) -> bool:
    """The 95% interval of a bar, cut at the axis edges, a cut end drawn as an arrowhead; True where cut."""
    shown_low, shown_high = max(low, limits.low), min(high, limits.high)
    ax.errorbar(acc, y, xerr=[[acc - shown_low], [shown_high - acc]], fmt="none", ecolor="black", elinewidth=0.9,
                capsize=2.2, zorder=4)
    for edge, marker, beyond in ((limits.low, "3", low < limits.low), (limits.high, "4", high > limits.high)):
        if beyond:  # a fork, as marks.cut_at_axis draws it
            ax.plot(edge, y, marker=marker, color="#555555", markersize=7, markeredgewidth=1.2, linestyle="",
                    zorder=4, clip_on=False)
    return bool(low < limits.low or high > limits.high)


def accuracy_by_position(summary: Summary, path: Path) -> pd.DataFrame:
    """Horizontal bars of mean test accuracy with its 95% interval, best block on top; filled where the verdict
    is resolved, hollow where not; the baseline's accuracy at the same position across each bar."""
    cells = summary.cells
    trained = cells[cells["n_seeds"] > 0]
    positions = position_order(cells["position"])
    colours = {p: POSITION_COLOURS.get(p, BLOCK_PALETTE[(i + 3) % 10]) for i, p in enumerate(positions)}
    order = trained.groupby("block")["test_acc"].mean().sort_values(ascending=False).index.tolist()
    table = cells.set_index(["block", "position"])
    height = 0.8 / len(positions)
    limits = marks.bulk(trained["test_acc"] * 100, extent=(trained["test_acc_ci95_low"] * 100,
                                                           trained["test_acc_ci95_high"] * 100), min_span=2.0)
    start = _bar_start(limits)
    limits = marks.Bulk(start, limits.high, False)
    edges, improving, cut = [], [], 0
    with matplotlib.rc_context(FONT):
        fig = new_figure(10.5, 3.4 + max(3.0, 0.42 * len(order) * max(1, len(positions) / 3)))  # legend, caption
        ax = fig.add_subplot()
        for j, p in enumerate(positions):
            for i, block in enumerate(order):
                y = i - 0.4 + height * (j + 0.5)
                if (block, p) not in table.index or table.loc[(block, p), "n_seeds"] == 0:
                    diverged = (block, p) in table.index and table.loc[(block, p), "n_diverged"] > 0
                    ax.text(start + 0.2, y, "no result: diverged" if diverged else "no result", va="center",
                            ha="left", fontsize=6.5, color="#888888", style="italic")
                    continue
                row = table.loc[(block, p)]
                acc, low, high = row["test_acc"] * 100, row["test_acc_ci95_low"] * 100, row["test_acc_ci95_high"] * 100
                end = float(limits.shown([acc])[0])
                filled = row["verdict"] != "not resolved"
                bar = ax.barh(y, end - start, height=height * 0.92, left=start, zorder=2,
                              color=colours[p] if filled else "white", edgecolor=colours[p], linewidth=1.3)
                bar.patches[0].set_gid(f"cell:{row_cell(block, p)}")
                if limits.side([acc])[0]:
                    edges.append((end, y, ("◀ " if acc < start else "▶ ") + f"{acc:.1f}%"))
                elif low == low and high == high:
                    cut += _interval(ax, acc, y, low, high, limits)
                if row["still_improving"]:
                    improving.append((min(high, limits.high) if high == high and not limits.side([acc])[0] else end, y))
        baseline = {p: table.loc[(BASELINE, p), "test_acc"] * 100 for p in positions
                    if (BASELINE, p) in table.index and table.loc[(BASELINE, p), "n_seeds"] > 0}
        for j, p in enumerate(positions):  # the baseline's level at the same position, across each bar
            if p in baseline:
                ys = np.array([i - 0.4 + height * (j + 0.5) for i, block in enumerate(order) if block != BASELINE])
                ax.vlines([baseline[p]] * len(ys), ys - height * 0.5, ys + height * 0.5, color=BASELINE_MARK, lw=2.0,
                          zorder=5)
        for x, y, text in edges:  # clear of a still-improving arrow beside the bar end
            ax.annotate(text, (x, y), xytext=(13, 0), textcoords="offset points", va="center", fontsize=7, zorder=6)
        handles = [header("Position of the block")] + [Patch(facecolor=colours[p], label=p) for p in positions]
        handles += [header(""), header("Verdict against the baseline"),
                    Patch(facecolor="#777777", edgecolor="#777777", label="filled: better or worse\n(95% resolved)"),
                    Patch(facecolor="white", edgecolor="#777777", label="hollow: not resolved")]
        if baseline:
            handles.append(Line2D([], [], color=BASELINE_MARK, marker="|", markersize=11, markeredgewidth=2.0,
                                  linestyle="", label=f"{BASELINE} (baseline)\nat the same position"))
        if improving:
            handles.append(Line2D([], [], label="still improving at the\nlast epoch", **marks.IMPROVING_MARK))
        if edges:
            handles.append(Line2D([], [], linestyle="", marker=r"$\blacktriangleleft$", color="#555555",
                                  markersize=7, label="beyond the axis: its\nvalue written"))
        if cut:
            handles.append(marks.cut_legend("x"))
        ax.set_yticks(range(len(order)), [b + ("\n(baseline)" if b == BASELINE else "") for b in order])
        ax.set_ylim(len(order) - 0.5, -0.5)  # best block on top
        limits.apply(ax, "x")
        seeds = "mean over seeds" if summary.n_seeds[1] > 1 else "one seed"
        ax.set_xlabel(f"{summary.dataset + ' t' if summary.dataset else 'T'}est accuracy, % "
                      f"({seeds}; axis starts at {start:g}%, not 0)")
        title(ax, f"Test accuracy by block and position{' (' + summary.dataset + ')' if summary.dataset else ''}")
        grid(ax, "x")
        ax.spines["left"].set_visible(False)
        ax.tick_params(axis="y", length=0)
        legend_outside(ax, handles)
        lines = [f"Bar: {'test accuracy of' if summary.n_seeds[1] == 1 else 'mean test accuracy over'} "
                 f"{seeds_text(summary)} of one block placed at one position (early/mid/late stage) of the fixed "
                 "network; " + ("error bars: its 95% t-interval over seeds. " if summary.n_seeds[1] >= 2
                               else "only 1 seed per cell: no interval. ")
                 + "Filled: better or worse than the baseline at the same position (95% resolved); hollow: not "
                 "resolved. Blocks sorted by their mean over positions, best on top."
                 + (f" Orange marks: the {BASELINE} baseline's accuracy at the bar's position ("
                    + ", ".join(f"{p} {v:.1f}%" for p, v in baseline.items()) + ")." if baseline else "")]
        lines += [f"Bars beyond the axis (set from the bulk of the cells) end at its edge with their value: "
                  f"{len(edges)}."] if edges else []
        lines += marks.cut_lines(cut)
        caption(fig, lines + excluded_lines(summary))
        if improving:  # placed in display coordinates: the layout is frozen here, after the legend and caption
            points = np.array(improving)
            mark_beside(fig, ax, points, np.zeros_like(points), np.ones(len(points), dtype=bool), (7.0, -3.0),
                        marks.IMPROVING_MARK)
        save_png(fig, path)
    data = trained[["block", "position", "test_acc", "test_acc_ci95_low", "test_acc_ci95_high", "verdict",
                    "still_improving", "n_seeds"]].copy()
    rank, pos_rank = {b: i for i, b in enumerate(order)}, {p: i for i, p in enumerate(positions)}
    return (data.assign(_b=data["block"].map(rank), _p=data["position"].map(pos_rank)).sort_values(["_b", "_p"])
            .drop(columns=["_b", "_p"]))


def curve_stats(curves: pd.DataFrame, results: pd.DataFrame) -> pd.DataFrame:
    """Per block x position x epoch: mean, std, min and max of the validation accuracy over the seeds, the
    diverged runs (by the results file) left out, as everywhere else."""
    curves = curves.copy()
    if "seed" not in curves.columns:
        curves["seed"] = 0
    for name in ("seed", "epoch", "val_acc"):
        curves[name] = pd.to_numeric(curves[name], errors="coerce")
    curves = curves.dropna(subset=["epoch"])
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
    stats["epoch"] = stats["epoch"].astype(int)
    return stats


def val_curves(stats: pd.DataFrame, summary: Summary, path: Path) -> pd.DataFrame:
    """One small panel per block (best final accuracy first): a line per position, mean over seeds with a
    min-max band, and the baseline network's curve in every other panel as the reference."""
    positions = position_order(stats["position"])
    colours = {p: POSITION_COLOURS.get(p, BLOCK_PALETTE[(i + 3) % 10]) for i, p in enumerate(positions)}
    last = stats[stats["epoch"] == stats.groupby(["block", "position"])["epoch"].transform("max")]
    blocks = last.groupby("block")["val_acc_mean"].mean().sort_values(ascending=False).index.tolist()
    reference = stats[stats["block"] == BASELINE].groupby("epoch")["val_acc_mean"].mean()
    n_seeds = stats["n_seeds"]
    seeds = f"{n_seeds.min()}" if n_seeds.min() == n_seeds.max() else f"{n_seeds.min()}-{n_seeds.max()}"
    n_cols = min(PANEL_COLUMNS, len(blocks))
    n_rows = math.ceil(len(blocks) / n_cols)
    with matplotlib.rc_context(FONT):
        fig = new_figure(2.6 * n_cols + 2.4, 2.0 * n_rows + 1.6)
        axes = fig.subplots(n_rows, n_cols, sharex=True, sharey=True, squeeze=False).ravel()
        for ax, block in zip(axes, blocks, strict=False):
            if block != BASELINE and len(reference):
                ax.plot(reference.index, reference.to_numpy() * 100, color="black", lw=0.9, ls=":", zorder=2)
            for p in positions:
                part = stats[(stats["block"] == block) & (stats["position"] == p)].sort_values("epoch")
                if part.empty:
                    continue
                ax.fill_between(part["epoch"], part["val_acc_min"] * 100, part["val_acc_max"] * 100,
                                color=colours[p], alpha=0.18, lw=0)
                ax.plot(part["epoch"], part["val_acc_mean"] * 100, color=colours[p], lw=1.4, zorder=3)
            ax.set_title(block + (" (baseline)" if block == BASELINE else ""), loc="left", fontsize=8.5)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            grid(ax)
        for ax in axes[len(blocks):]:
            ax.set_visible(False)
        for k, ax in enumerate(axes[:len(blocks)]):
            if k + n_cols >= len(blocks):  # no panel below: this one carries the epoch axis
                ax.set_xlabel("Epoch")
                ax.xaxis.set_tick_params(labelbottom=True)
        fig.supylabel(f"{summary.dataset + ' v' if summary.dataset else 'V'}alidation accuracy, %", fontsize=9.5)
        handles = [header("Position of the block")]
        handles += [Line2D([], [], color=colours[p], lw=2, label=p) for p in positions]
        if len(reference):
            handles += [header(""), Line2D([], [], color="black", lw=0.9, ls=":", label=f"{BASELINE}\n(baseline)")]
        legend_outside(fig, handles)
        fig.suptitle("Validation accuracy during training, one panel per block (best final accuracy first)", x=0.01,
                     ha="left", fontweight="bold", fontsize=11)
        caption(fig, [f"Line: mean over {seeds} seed{'s' * (seeds != '1')} of the block at one position; band: "
                      "min to max over seeds; dotted: the baseline network (the same at every position). Panels "
                      "share both axes.", *excluded_lines(summary, with_untrained=False)])
        save_png(fig, path)
    return stats[["block", "position", "epoch", "val_acc_mean", "val_acc_std", "val_acc_min", "val_acc_max", "n_seeds"]]
