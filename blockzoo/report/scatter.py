"""The scatter figures of the cells: accuracy against a cost (latency or FLOPs), and one cost against another.

One point per cell (block colour, position marker). Accuracy carries its 95% interval over seeds; a point is
filled when the leaderboard resolves it better or worse than the baseline, hollow when not, and an arrow above it
says it was still improving at its last epoch. Latency carries its p10-p90 spread within one measurement, and the
baseline network's separate measurements (the noise check) are drawn as one dashed span, the noise between
measurements. Axes are set from the bulk of the cells (marks.bulk); an outlier is drawn at the edge with its value.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.colors import to_rgba
from matplotlib.lines import Line2D

from blockzoo.names import BASELINE_BLOCK as BASELINE
from blockzoo.report import marks
from blockzoo.report.captions import excluded_lines, seeds_text
from blockzoo.report.labels import dodge, mark_beside, place_labels, step_vertices
from blockzoo.report.style import (
    FONT,
    Caption,
    block_colours,
    grid,
    maybe_log,
    new_figure,
    position_markers,
    save_png,
    scatter_legends,
    si_axis,
    si_text,
    title,
)
from blockzoo.report.summary import Summary, position_order, row_cell

COUNTS = {"flops_m": 1e6, "params_m": 1e6}  # columns in millions, drawn with K / M / G ticks
BUSY_MARK = {"marker": "x", "color": "black", "markersize": 5, "markeredgewidth": 1.4, "linestyle": ""}
BUSY_OFFSET = (5.5, 5.5)  # points: the x sits at the marker's upper right
DODGE_NOTE = ("Markers that would fall on the same spot are drawn side by side, a few pixels apart, so that every "
              "block shows; their values are equal or nearly so.")


def cell_names(frame: pd.DataFrame) -> list[str]:
    """The leaderboard's row names (summary.row_cell): the baseline network at each position is its own row."""
    return [row_cell(b, p) for b, p in frame[["block", "position"]].itertuples(index=False)]


def value_text(name: str):
    """How a value of column `name` reads on a figure, e.g. '12.3 ms', '4.5M FLOPs', '47.1%'."""
    if name == "latency_ms":
        return lambda v: f"{v:.3g} ms"
    if name in COUNTS:
        return lambda v: si_text(v * COUNTS[name]) + (" FLOPs" if name == "flops_m" else " params")
    return lambda v: f"{v:.1f}%"


def draw_points(ax, shown: pd.DataFrame, xs, ys, xerr, yerr, filled, size: float = 7.0) -> list[list]:
    """One errorbar artist per cell at (xs, ys), block colour and position marker, filled or hollow; its marker
    line carries the gid 'cell:<name>' (the tests find the cells' markers by it). Returns [[artist], ...]."""
    colours = block_colours(shown["block"].unique())
    markers = position_markers(shown["position"].unique())
    artists = []
    for i, (row, name) in enumerate(zip(shown.itertuples(index=False), cell_names(shown), strict=True)):
        face = ({"markeredgecolor": "white", "markeredgewidth": 0.6} if filled[i] else
                {"markerfacecolor": "white", "markeredgecolor": colours[row.block], "markeredgewidth": 1.6})
        artist = ax.errorbar(xs[i], ys[i], xerr=None if xerr is None else xerr[:, i:i + 1],
                             yerr=None if yerr is None else yerr[:, i:i + 1], fmt=markers[row.position],
                             color=colours[row.block], ecolor=to_rgba(colours[row.block], 0.45), markersize=size,
                             elinewidth=0.9, capsize=2.0, zorder=3, **face)
        artist[0].set_gid(f"cell:{name}")
        artists.append([artist])
    return artists


def legend_of(ax, shown: pd.DataFrame, extra: list) -> None:
    blocks = sorted(shown["block"].unique(), key=lambda b: (b != BASELINE, b))
    scatter_legends(ax, block_colours(shown["block"].unique()), position_markers(shown["position"].unique()),
                    blocks, position_order(shown["position"]), extra)


def _cost_axis(ax, axis: str, name: str, values, extent=()) -> marks.Bulk:
    """Log scale where the data spans over a decade, the range from the bulk; K / M / G ticks on a count."""
    log = maybe_log(ax, axis, values)
    limits = marks.bulk(values, log, extent)
    limits.apply(ax, axis)
    if name in COUNTS:
        si_axis(ax, axis, values, COUNTS[name])
    return limits


def _spread(shown: pd.DataFrame, name: str) -> tuple[np.ndarray, np.ndarray] | tuple:
    if name != "latency_ms":
        return ()
    return shown["latency_p10"].to_numpy(float), shown["latency_p90"].to_numpy(float)


def _latency_lines(shown: pd.DataFrame, axis: str, noise: dict | None) -> list[str]:
    lines = []
    if shown["latency_p10"].notna().any():
        lines.append(f"{'Horizontal' if axis == 'x' else 'Vertical'} bars: the latency's 10th-90th percentile over "
                     "the timed iterations of one measurement.")
    lines += marks.noise_lines(noise, "horizontal" if axis == "x" else "vertical")
    if shown["busy"].any():
        lines.append("x beside a point: the machine was busy while its latency was timed (benchmark.busy); that "
                     "latency is not trusted and is left out of the Pareto frontier until `make retime` times it "
                     "again on a quiet machine (" + ", ".join(cell_names(shown[shown["busy"]])) + ").")
    return lines


def _extras(shown: pd.DataFrame, latency: bool) -> list[Line2D]:
    if not (latency and shown["busy"].any()):
        return []
    return [Line2D([], [], label="busy machine: latency\nnot trusted", **BUSY_MARK)]


def _baseline_noise(ax, shown: pd.DataFrame, noise: dict | None, axis: str, other: str) -> list[Line2D]:
    """The noise span at the baseline's value on the other axis (where there is a baseline and two measurements)."""
    base = shown[shown["block"] == BASELINE]
    if noise is None or noise.get("measurements", 0) < 2 or base.empty:
        return []
    return [marks.noise_span(ax, noise, float(base[other].median()), axis)]


def accuracy_scatter(summary: Summary, x: str, heading: str, xlabel: str, measured: str, path: Path,
                     noise: dict | None = None) -> pd.DataFrame:
    """Mean test accuracy (with its 95% interval and verdict) vs a cost x, lower is better; frontier labelled."""
    cells = summary.cells
    shown = cells[(cells["n_seeds"] > 0) & cells[x].notna() & (cells[x] > 0)].reset_index(drop=True)
    names, latency = cell_names(shown), x == "latency_ms"
    cost, acc = shown[x].to_numpy(float), shown["test_acc"].to_numpy(float) * 100
    low, high = shown["test_acc_ci95_low"].to_numpy(float) * 100, shown["test_acc_ci95_high"].to_numpy(float) * 100
    # the frontier of the true values; a latency timed on a busy machine is drawn (marked) but not eligible
    front, index = marks.frontier(cost, acc, ~shown["busy"].to_numpy(bool) if latency else None)
    noisy = np.zeros(len(shown), dtype=bool)
    if latency:
        noisy[index] = (marks.within_noise(shown["latency_p10"].to_numpy(float)[index],
                                           shown["latency_p90"].to_numpy(float)[index])
                        | marks.within_ratio(cost[index], marks.noise_ratio(noise)))
    with matplotlib.rc_context(FONT):
        fig = new_figure(11.0, 7.2)
        ax = fig.add_subplot()
        x_bulk = _cost_axis(ax, "x", x, cost, _spread(shown, x))
        y_bulk = marks.bulk(acc, extent=(low, high), min_span=2.0)
        y_bulk.apply(ax, "y")
        px, py = x_bulk.shown(cost), y_bulk.shown(acc)
        inside = (x_bulk.side(cost) == 0) & (y_bulk.side(acc) == 0)
        yerr = marks.interval_err(acc, low, high)
        xerr = marks.interval_err(cost, *_spread(shown, x)) if latency else None
        for err in (e for e in (xerr, yerr) if e is not None):
            err[:, ~inside] = 0  # an outlier drawn at the edge: its bars would start from the wrong place
        cut = marks.cut_at_axis(ax, "y", py, yerr, y_bulk, px) if yerr is not None else 0
        cut += marks.cut_at_axis(ax, "x", px, xerr, x_bulk, py) if xerr is not None else 0
        artists = draw_points(ax, shown, px, py, xerr, yerr, marks.resolved(shown["verdict"]))
        base = shown[shown["block"] == BASELINE]
        if len(base):
            ax.axhline(base["test_acc"].mean() * 100, color="black", lw=0.8, ls=":", zorder=1)
        extra = marks.draw_frontier(ax, px[index], py[index], noisy[index])
        extra += _baseline_noise(ax, shown.assign(acc=py), noise, "x", "acc") if latency else []
        extra += _extras(shown, latency) + marks.verdict_legend(shown["still_improving"].any())
        edges = marks.edge_labels(x_bulk, y_bulk, cost, acc, names, value_text(x), value_text("acc"))
        extra += [marks.edge_legend()] if edges else []
        extra += [marks.cut_legend()] if cut else []
        ax.set_xlabel(xlabel + (" (log scale)" if ax.get_xscale() == "log" else ""))
        ax.set_ylabel(f"{summary.dataset + ' t' if summary.dataset else 'T'}est accuracy, % "
                      f"({'mean over seeds' if summary.n_seeds[1] > 1 else 'one seed'})")
        title(ax, heading)
        grid(ax)
        legend_of(ax, shown, extra)
        lines = [f"Each point: one block at one position; test accuracy "
                 f"{'of' if summary.n_seeds[1] == 1 else 'is the mean over'} {seeds_text(summary)} of training. "
                 + ("Error bars: its 95% t-interval over seeds. " if summary.n_seeds[1] >= 2 else
                    "Only 1 seed per cell: no interval (train more seeds to see it). ")
                 + "Filled: better or worse than the baseline (dotted line) at the 95% level; hollow: not resolved. "
                 + f"{measured} Grey step line through ringed points: the Pareto frontier, the cells that no other "
                 "cell beats on both axes (lower cost and higher accuracy), labelled by cell."]
        lines += _latency_lines(shown, "x", noise) + marks.dotted_ring_line(noisy, noise) if latency else []
        lines += marks.improving_line(shown) + marks.edge_line(edges) + marks.cut_lines(cut)
        lines += excluded_lines(summary)
        points, dodged = _dodge_with_caption(fig, ax, lines, px, py, artists, shown["busy"] if latency else None)
        mark_beside(fig, ax, points, dodged, shown["still_improving"], marks.IMPROVING_OFFSET, marks.IMPROVING_MARK)
        labelled = [(px[i], py[i], names[i], dodged[i]) for i in index]
        labelled += [(ex, ey, text_, (0.0, 0.0)) for ex, ey, text_ in edges]
        bars = [] if yerr is None else [((v, a - down), (v, a + up))
                                        for v, a, down, up in zip(px, py, *yerr, strict=True)]
        _label(fig, ax, labelled, points, dodged, [step_vertices(px[index], py[index]), *bars])
        save_png(fig, path)
    data = shown[["block", "position", x, "test_acc", "test_acc_ci95_low", "test_acc_ci95_high", "verdict",
                  "still_improving", "n_seeds"]].copy()
    data.insert(0, "cell", names)
    data["pareto"] = front
    if latency:
        data = data.assign(latency_p10=shown["latency_p10"], latency_p90=shown["latency_p90"], within_noise=noisy,
                           busy=shown["busy"])
    return data


def _dodge_with_caption(fig, ax, lines: list[str], px, py, artists, busy=None):
    """Reserve the caption's room, draw overlapping markers side by side, then write the caption (with the note
    saying so only when something moved) and mark busy-timed latencies beside their dodged markers."""
    text = Caption(fig, lines, optional=[DODGE_NOTE])
    points = np.column_stack([px, py])
    dodged = dodge(fig, ax, points, artists)
    text.write([DODGE_NOTE] if dodged.any() else [])
    if busy is not None:
        mark_beside(fig, ax, points, dodged, busy, BUSY_OFFSET, BUSY_MARK)
    return points, dodged


def _label(fig, ax, labelled: list[tuple], points, dodged, segments) -> None:
    if labelled:
        xs, ys, texts, shifts = zip(*labelled, strict=True)
        place_labels(fig, ax, np.array(xs), np.array(ys), list(texts), points, segments=segments,
                     shifts=np.array(shifts), point_shifts=dodged)


def cost_scatter(summary: Summary, x: str, y: str, heading: str, xlabel: str, ylabel: str, notes: list[str],
                 path: Path, noise: dict | None = None) -> pd.DataFrame:
    """One cost against another, one point per cell; with latency as y, its spread and the noise span."""
    cells = summary.cells
    shown = cells[cells[x].notna() & cells[y].notna() & (cells[x] > 0) & (cells[y] > 0)].reset_index(drop=True)
    names, latency = cell_names(shown), y == "latency_ms"
    xv, yv = shown[x].to_numpy(float), shown[y].to_numpy(float)
    with matplotlib.rc_context(FONT):
        fig = new_figure(10.5, 6.4)
        ax = fig.add_subplot()
        x_bulk, y_bulk = _cost_axis(ax, "x", x, xv), _cost_axis(ax, "y", y, yv, _spread(shown, y))
        px, py = x_bulk.shown(xv), y_bulk.shown(yv)
        inside = (x_bulk.side(xv) == 0) & (y_bulk.side(yv) == 0)
        yerr = marks.interval_err(yv, *_spread(shown, y)) if latency else None
        if yerr is not None:
            yerr[:, ~inside] = 0
        artists = draw_points(ax, shown, px, py, None, yerr, np.ones(len(shown), dtype=bool), size=7.5)
        extra = _baseline_noise(ax, shown.assign(cost=px), noise, "y", "cost") if latency else []
        extra += _extras(shown, latency)
        edges = marks.edge_labels(x_bulk, y_bulk, xv, yv, names, value_text(x), value_text(y))
        extra += [marks.edge_legend()] if edges else []
        ax.set_xlabel(xlabel + (" (log scale)" if ax.get_xscale() == "log" else ""))
        ax.set_ylabel(ylabel + (" (log scale)" if ax.get_yscale() == "log" else ""))
        title(ax, heading)
        grid(ax)
        legend_of(ax, shown, extra)
        lines = ["Each point: one block at one position of the fixed scaffold network "
                 "(whole-network numbers, one image).", *notes]
        lines += _latency_lines(shown, "y", noise) if latency else []
        lines += marks.edge_line(edges)
        points, dodged = _dodge_with_caption(fig, ax, lines, px, py, artists, shown["busy"] if latency else None)
        _label(fig, ax, [(ex, ey, t, (0.0, 0.0)) for ex, ey, t in edges], points, dodged, [])
        save_png(fig, path)
    data = shown[["block", "position", x, y]].copy()
    data.insert(0, "cell", names)
    if latency:
        data = data.assign(latency_p10=shown["latency_p10"], latency_p90=shown["latency_p90"], busy=shown["busy"])
    return data
