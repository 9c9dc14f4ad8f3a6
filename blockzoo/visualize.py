"""Plots of a results file (python -m blockzoo.visualize results/results.csv --out plots/).

From any results.csv of the schema (blockzoo/results.py) this draws, as PNG and as tidy CSV under
<out>/data/ (one row per point, simple column names, for `dvc plots`):

  accuracy_vs_latency   mean test accuracy over seeds vs latency, Pareto frontier labelled
  accuracy_vs_flops     the same against FLOPs (fvcore: one multiply-add = 1 FLOP), in MFLOPs
  accuracy_by_position  grouped bars: one group per block, one bar per position, baseline as reference
  val_curves            validation accuracy per epoch from curves.csv, one panel per position
  latency_vs_flops      cost only (always drawn; the useful figure before anything is trained)
  params_vs_flops       cost only (always drawn)

Rows not trained yet (no test accuracy) are left out of the accuracy figures; diverged runs
(train.status == "diverged") are left out of every mean and listed in a footnote. Figures that
cannot be drawn from the file (no accuracy, no curves) are skipped with a printed note.
"""
from __future__ import annotations

import argparse
import math
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from blockzoo import atomic
from blockzoo.errors import BlockzooError, cli_errors
from blockzoo.names import BASELINE_BLOCK as BASELINE, POSITIONS
from blockzoo.results import SCHEMA, read_results

DPI = 150
DEFAULT_LATENCY = "benchmark.latency_b1_ms"
LATENCY_COLUMNS = tuple(name for name in SCHEMA if name.startswith("benchmark.") and "latency" in name)

# Colour per block (the baseline is black, the others take tab10 in name order), marker per position;
# in the bar chart the positions are a light-to-dark blue ramp (colour-blind safe, ordered like the net).
BLOCK_PALETTE = [matplotlib.colormaps["tab10"](i) for i in range(10)] + [matplotlib.colormaps["tab20"](2 * i + 1) for i in range(10)]
BASELINE_COLOUR = "#000000"
POSITION_MARKERS = {"early": "o", "mid": "s", "late": "^"}
EXTRA_MARKERS = ("D", "v", "P", "X", "<", ">")
FRONTIER_COLOUR = "#9a9a9a"
POSITION_COLOURS = {"early": "#c6dbef", "mid": "#6baed6", "late": "#2171b5"}
BASELINE_MARK = "#d95f02"  # orange: stands out on the blue bars and from the black error bars
DATASET_NAMES = {"cifar100": "CIFAR-100", "cifar10": "CIFAR-10", "fashion-mnist": "Fashion-MNIST"}
CURVE_COLUMNS = ("block", "position", "epoch", "val_acc")

FONT = {"font.size": 9, "axes.titlesize": 11, "axes.labelsize": 9.5, "legend.fontsize": 8, "legend.title_fontsize": 8.5,
        "xtick.labelsize": 8.5, "ytick.labelsize": 8.5, "axes.spines.top": False, "axes.spines.right": False}


# ---------------------------------------------------------------------------------------------
# Pure pieces: the Pareto frontier and the per-cell summary
# ---------------------------------------------------------------------------------------------

def pareto_front(points) -> np.ndarray:
    """Boolean mask of the Pareto-optimal points, minimising x and maximising y.

    `points`: an (n, 2) array-like of (x, y). A point is on the front when no other point is at least
    as good in both coordinates and strictly better in one. Ties: points with equal x keep only the
    highest y; exact duplicates of a front point are all on the front (neither dominates the other).
    Points with a NaN coordinate are never on the front and dominate nothing.
    """
    array = np.asarray(points, dtype=float)
    if array.size == 0:
        return np.zeros(0, dtype=bool)
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"pareto_front expects (n, 2) points, got shape {array.shape}")
    x, y = array[:, 0], array[:, 1]
    finite = np.isfinite(x) & np.isfinite(y)
    xi, yi = x[:, None], y[:, None]  # row i: the candidate; column j: a possible dominator
    dominates = (x[None, :] <= xi) & (y[None, :] >= yi) & ((x[None, :] < xi) | (y[None, :] > yi)) & finite[None, :]
    return finite & ~dominates.any(axis=1)


@dataclass
class Summary:
    """One row per block x position (`cells`) and what the captions need to say about them."""
    cells: pd.DataFrame
    n_seeds: tuple[int, int]             # min, max seeds behind the accuracy of a trained cell
    diverged: list[str] = field(default_factory=list)  # "block@position seed s"
    untrained: list[str] = field(default_factory=list)  # cells with no accuracy yet
    dataset: str = ""


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame.columns:
        return frame[name]
    return pd.Series([None] * len(frame), index=frame.index, dtype=object)


def _numeric(frame: pd.DataFrame, name: str) -> pd.Series:
    return pd.to_numeric(_column(frame, name), errors="coerce").astype("float64")


def _position_order(positions) -> list[str]:
    present = list(dict.fromkeys(p for p in positions if p is not None and p == p))
    return [p for p in POSITIONS if p in present] + sorted(p for p in present if p not in POSITIONS)


def _flops_column(frame: pd.DataFrame) -> tuple[str, str]:
    """Deploy-form FLOPs where every row has them (what the latency measures), else train form."""
    deploy = _numeric(frame, "profile.flops_total_deploy")
    if len(frame) and deploy.notna().all():
        return "profile.flops_total_deploy", "deploy form"
    return "profile.flops_total", "train form"


def _params_column(frame: pd.DataFrame) -> tuple[str, str]:
    deploy = _numeric(frame, "profile.params_total_deploy")
    if len(frame) and deploy.notna().all():
        return "profile.params_total_deploy", "deploy form"
    return "profile.params_total", "train form"


def summarize(frame: pd.DataFrame, latency_column: str = DEFAULT_LATENCY) -> Summary:
    """Per block x position: mean/std test accuracy over the seeds that completed, latency, FLOPs, params."""
    _check_frame(frame)
    acc = _numeric(frame, "train.test_acc")
    status = _column(frame, "train.status")
    diverged_rows = (status == "diverged").fillna(False).astype(bool)
    valid = acc.notna() & np.isfinite(acc) & ~diverged_rows
    flops_name, _ = _flops_column(frame)
    params_name, _ = _params_column(frame)
    work = pd.DataFrame({
        "block": frame["block"].astype(str), "position": frame["position"].astype(str),
        "seed": _numeric(frame, "seed"), "acc": acc.where(valid),
        "val_acc": _numeric(frame, "train.val_acc").where(valid),
        "latency_ms": _numeric(frame, latency_column), "flops": _numeric(frame, flops_name),
        "params": _numeric(frame, params_name), "diverged": diverged_rows,
    })
    rows = []
    for (block, position), group in work.groupby(["block", "position"], sort=False):
        accs = group["acc"].dropna()
        rows.append({
            "cell": f"{block}@{position}", "block": block, "position": position,
            "latency_ms": group["latency_ms"].median(), "flops_m": group["flops"].median() / 1e6,
            "params_m": group["params"].median() / 1e6,
            "test_acc": accs.mean() if len(accs) else math.nan,
            "test_acc_std": accs.std(ddof=1) if len(accs) > 1 else math.nan,
            "val_acc": group["val_acc"].mean(), "n_seeds": len(accs),
            "n_diverged": int(group["diverged"].sum()),
        })
    cells = pd.DataFrame(rows, columns=["cell", "block", "position", "latency_ms", "flops_m", "params_m", "test_acc",
                                        "test_acc_std", "val_acc", "n_seeds", "n_diverged"])
    order = {p: i for i, p in enumerate(_position_order(cells["position"]))}
    cells = cells.assign(_p=cells["position"].map(order)).sort_values(["block", "_p"]).drop(columns="_p").reset_index(drop=True)
    diverged = [f"{b}@{p} seed {'?' if s != s else int(s)}" for b, p, s in
                work.loc[work["diverged"], ["block", "position", "seed"]].itertuples(index=False)]
    trained = cells[cells["n_seeds"] > 0]
    untrained = [c for c, n, d in zip(cells["cell"], cells["n_seeds"], cells["n_diverged"]) if n == 0 and d == 0]
    n_seeds = (int(trained["n_seeds"].min()), int(trained["n_seeds"].max())) if len(trained) else (0, 0)
    datasets = sorted({d for d in _column(frame, "train.dataset").dropna()})
    dataset = " / ".join(DATASET_NAMES.get(d, d) for d in datasets)
    return Summary(cells, n_seeds, diverged, untrained, dataset)


def _check_frame(frame) -> None:
    if not isinstance(frame, pd.DataFrame) or "block" not in frame.columns or "position" not in frame.columns:
        raise BlockzooError("the results to plot need 'block' and 'position' columns; read them with blockzoo.results.read_results")


def _check_latency_column(name: str) -> None:
    if name not in LATENCY_COLUMNS:
        raise BlockzooError(f"unknown latency column '{name}'; choose one of {', '.join(LATENCY_COLUMNS)}")


# ---------------------------------------------------------------------------------------------
# Words for the captions: what was measured, where
# ---------------------------------------------------------------------------------------------

def _unique(frame: pd.DataFrame, name: str) -> list[str]:
    return sorted({str(v) for v in _column(frame, name).dropna() if str(v) != ""})


def _device_text(frame: pd.DataFrame, latency_column: str) -> tuple[str, str]:
    """Where the latency was measured: (short, full), e.g. ('NVIDIA H100 80GB HBM3', 'cuda, NVIDIA H100 80GB HBM3, float32').

    Rows measured on different devices or settings are flagged: their latencies are not comparable."""
    def text(value) -> str:
        return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)

    bench = frame[_numeric(frame, latency_column).notna().to_numpy()]
    variants: dict[str, str] = {}
    for _, row in bench.iterrows():
        device = text(row.get("benchmark.device")) or text(row.get("benchmark.env.device")) or "unknown device"
        model = text(row.get("benchmark.env.gpu_model" if device == "cuda" else "benchmark.env.cpu_model"))
        parts = [device, model, text(row.get("benchmark.dtype"))]
        if device == "cpu" and text(row.get("benchmark.threads")):
            parts.append(f"{text(row.get('benchmark.threads'))} threads")
        variants[", ".join(part for part in parts if part)] = model or device
    if not variants:
        return "device not recorded", "device not recorded"
    if len(variants) == 1:
        full, short = variants.popitem()
        return short, full
    return "MIXED devices", "MIXED devices, latencies not comparable: " + " | ".join(sorted(variants))


def _latency_text(frame: pd.DataFrame, column: str) -> tuple[str, str]:
    """(short axis phrase, batch phrase) for a latency column, e.g. ('median, deploy form', 'batch 1')."""
    name = column.removeprefix("benchmark.")
    form = "train form" if name.startswith("train_form_") else "deploy form"
    stat = "10th percentile" if name.endswith("_p10") else "90th percentile" if name.endswith("_p90") else "median"
    if "_b1_" in name + "_":
        batch = "batch 1"
    else:
        sizes = _unique(frame, "benchmark.batch_size")
        batch = f"batch {'/'.join(sizes)}" if sizes else "large batch"
    return f"{stat}, {form}", batch


def _seeds_text(summary: Summary) -> str:
    low, high = summary.n_seeds
    return f"{low} seed{'s' * (low != 1)}" if low == high else f"{low}-{high} seeds"


def _excluded_lines(summary: Summary, with_untrained: bool = True) -> list[str]:
    lines = []
    if summary.diverged:
        lines.append(f"Excluded, diverged ({len(summary.diverged)}): " + ", ".join(summary.diverged) + ".")
    if with_untrained and summary.untrained:
        lines.append(f"Not trained yet, not shown ({len(summary.untrained)}): " + ", ".join(summary.untrained) + ".")
    return lines


# ---------------------------------------------------------------------------------------------
# Figure plumbing: colours, legends, captions, atomic saving
# ---------------------------------------------------------------------------------------------

def block_colours(blocks: Sequence[str]) -> dict[str, object]:
    """A fixed colour per block: the baseline black, the rest in name order through tab10 (then tab20)."""
    others = sorted(b for b in set(blocks) if b != BASELINE)
    colours = {b: BLOCK_PALETTE[i % len(BLOCK_PALETTE)] for i, b in enumerate(others)}
    if BASELINE in blocks:
        colours[BASELINE] = BASELINE_COLOUR
    return colours


def position_markers(positions: Sequence[str]) -> dict[str, str]:
    markers = dict(POSITION_MARKERS)
    extra = iter(EXTRA_MARKERS * 10)
    for p in _position_order(positions):
        if p not in markers:
            markers[p] = next(extra)
    return markers


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _caption(fig: Figure, lines: Sequence[str], fontsize: float = 8.0) -> None:
    """Reserve the bottom of the figure for caption lines (wrapped to its width) and write them there."""
    width_chars = int(fig.get_figwidth() * 72 / (fontsize * 0.56))
    wrapped = [w for line in lines if line for w in textwrap.wrap(line, width_chars, subsequent_indent="  ")]
    if not wrapped:
        return
    line_h = fontsize * 1.35 / 72 / fig.get_figheight()
    height = line_h * len(wrapped) + 0.012
    fig.get_layout_engine().set(rect=(0, height, 1, 1 - height))
    fig.text(0.008, height - 0.006, "\n".join(wrapped), ha="left", va="top", fontsize=fontsize, color="#333333", linespacing=1.35)


def _scatter_legends(ax, colours: dict, markers: dict, blocks: Sequence[str], positions: Sequence[str], extra: Sequence = ()) -> None:
    """One legend outside the axes (right): blocks by colour, then positions by marker, then extras."""
    def header(text: str) -> Line2D:
        return Line2D([], [], linestyle="", marker="", label=text)

    handles = [header("Block (colour)")]
    handles += [Line2D([], [], color=colours[b], marker="o", linestyle="", markersize=6.5, label=b + (" (baseline)" if b == BASELINE else ""))
                for b in blocks]
    handles += [header(""), header("Position (marker)")]
    handles += [Line2D([], [], color="#555555", marker=markers[p], linestyle="", markersize=6.5, label=p) for p in positions]
    if extra:
        handles += [header("")] + list(extra)
    legend = ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, borderaxespad=0.0,
                       handletextpad=0.5, labelspacing=0.45)
    for handle, text in zip(handles, legend.get_texts()):
        if not handle.get_marker() and handle.get_linestyle() in ("", "None") and text.get_text():
            text.set_fontweight("bold")


def _maybe_log(ax, axis: str, values) -> bool:
    values = np.asarray([v for v in values if v == v and v > 0], dtype=float)
    if len(values) < 2 or values.max() / values.min() <= 10:
        return False
    getattr(ax, f"set_{axis}scale")("log")
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    target.set_minor_formatter(NullFormatter())
    return True


def _save_png(fig: Figure, path: Path) -> Path:
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=DPI, facecolor="white")
    return path


def _save_csv(frame: pd.DataFrame, path: Path) -> Path:
    atomic.write_text(path, frame.to_csv(index=False, float_format="%.6g", lineterminator="\n"))
    return path


# ---------------------------------------------------------------------------------------------
# Label placement: block@position names beside their points, overlapping as little as possible
# ---------------------------------------------------------------------------------------------

_DIRECTIONS = ((1, 1), (1, -1), (-1, 1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1),
               (1, 0.5), (1, -0.5), (-1, 0.5), (-1, -0.5), (0.5, 1), (-0.5, 1), (0.5, -1), (-0.5, -1))
_RADII = (7, 12, 18, 26, 36, 48, 62)  # points


def _step_vertices(xs, ys) -> np.ndarray:
    """Vertices of the where="post" step line through (xs, ys)."""
    vertices = []
    for i, (x, y) in enumerate(zip(xs, ys)):
        if i:
            vertices.append((x, ys[i - 1]))
        vertices.append((x, y))
    return np.asarray(vertices, dtype=float).reshape(-1, 2)


def _overlap(a: tuple, b: tuple) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def place_labels(fig: Figure, ax, xs, ys, texts, points_xy, segments=(), fontsize: float = 7.5) -> None:
    """Annotate (xs[i], ys[i]) with texts[i], each offset chosen greedily so that the label overlaps as
    little as possible other labels, the plotted points (points_xy), lines through the data (segments:
    polylines in data coordinates, e.g. error bars and the frontier) and the axes edges, and sits nearer
    its own point than any other. The layout is frozen first so that display coordinates hold."""
    if not len(texts):
        return
    fig.draw_without_rendering()  # runs the constrained layout
    fig.set_layout_engine("none")  # positions from the constrained layout, fixed from here on
    renderer = fig.canvas.get_renderer()
    to_px = fig.dpi / 72.0
    box = ax.get_window_extent(renderer)
    frame = (box.x0, box.y0, box.x1, box.y1)
    marker = 5 * to_px
    points = ax.transData.transform(np.asarray(points_xy, dtype=float).reshape(-1, 2))
    obstacles = [(px - marker, py - marker, px + marker, py + marker) for px, py in points]
    for polyline in segments:
        vertices = ax.transData.transform(np.asarray(polyline, dtype=float).reshape(-1, 2))
        for (x0, y0), (x1, y1) in zip(vertices[:-1], vertices[1:]):
            steps = max(1, int(np.hypot(x1 - x0, y1 - y0) / (3 * to_px)))
            for t in np.linspace(0, 1, steps + 1):
                px, py = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
                obstacles.append((px - 1.5 * to_px, py - 1.5 * to_px, px + 1.5 * to_px, py + 1.5 * to_px))
    obstacles = np.asarray(obstacles, dtype=float).reshape(-1, 4)
    anchors = ax.transData.transform(np.column_stack([xs, ys]).astype(float))
    sizes = []
    for text in texts:
        probe = ax.text(0, 0, text, fontsize=fontsize)
        extent = probe.get_window_extent(renderer)
        sizes.append((extent.width, extent.height))
        probe.remove()

    def distance(rect: tuple, px: float, py: float) -> float:
        return float(np.hypot(max(rect[0] - px, 0, px - rect[2]), max(rect[1] - py, 0, py - rect[3])))

    placed: list[tuple] = []
    leaders: list[tuple] = []
    # the most crowded labels first: they have the fewest good places
    crowd = [int((np.hypot(*(points - anchors[i]).T) < 60 * to_px).sum()) for i in range(len(texts))]
    for i in sorted(range(len(texts)), key=lambda k: -crowd[k]):
        (ax_px, ay_px), (w, h) = anchors[i], sizes[i]
        other_points = points[np.abs(points - anchors[i]).sum(axis=1) > 0.5]
        best = None
        for radius in _RADII:
            for dx, dy in _DIRECTIONS:
                ox, oy = dx * radius * to_px, dy * radius * to_px
                # aligned like the annotation below: left/bottom edge at the offset for a full step, centred otherwise
                x0 = ax_px + ox - w * (0.0 if dx >= 1 else 1.0 if dx <= -1 else 0.5)
                y0 = ay_px + oy - h * (0.0 if dy >= 1 else 1.0 if dy <= -1 else 0.5)
                rect = (x0 - 1, y0 - 1, x0 + w + 1, y0 + h + 1)
                cost = 50 * ((w + 2) * (h + 2) - _overlap(rect, frame))
                cost += 20 * sum(_overlap(rect, other) for other in placed)
                cost += 6 * _overlap_many(rect, obstacles)
                # a label must read as its own point's: nearer to it than to any other point
                own = distance(rect, ax_px, ay_px)
                if len(other_points):
                    nearest = float(np.hypot(np.clip(np.maximum(rect[0] - other_points[:, 0], other_points[:, 0] - rect[2]), 0, None),
                                             np.clip(np.maximum(rect[1] - other_points[:, 1], other_points[:, 1] - rect[3]), 0, None)).min())
                    if nearest < own + 8 * to_px:
                        cost += 400 * (own + 8 * to_px - nearest) * to_px
                # the leader line should cross no other label
                lead = (ax_px + ox * 0.3, ay_px + oy * 0.3, ax_px + ox, ay_px + oy)
                cost += 30 * sum(_segment_hits(lead, other) for other in placed)
                cost += 30 * sum(_crosses(lead, other) for other in leaders)
                cost += radius * to_px * 3.0 + (2.0 if dy == 0 or dx == 0 else 0) * to_px
                if best is None or cost < best[0]:
                    best = (cost, rect, dx, dy, radius, lead)
        _, rect, dx, dy, radius, lead = best
        placed.append(rect)
        leaders.append(lead)
        ha = "left" if dx >= 1 else "right" if dx <= -1 else "center"
        va = "bottom" if dy >= 1 else "top" if dy <= -1 else "center"
        arrow = {"arrowstyle": "-", "color": "#555555", "lw": 0.7, "shrinkA": 1, "shrinkB": 5}
        ax.annotate(texts[i], (xs[i], ys[i]), xytext=(dx * radius, dy * radius), textcoords="offset points", ha=ha, va=va,
                    fontsize=fontsize, arrowprops=arrow, zorder=6,
                    bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.8})


def _overlap_many(rect: tuple, boxes: np.ndarray) -> float:
    """Summed overlap area of a rectangle with each of an (n, 4) array of boxes (x0, y0, x1, y1)."""
    w = np.minimum(rect[2], boxes[:, 2]) - np.maximum(rect[0], boxes[:, 0])
    h = np.minimum(rect[3], boxes[:, 3]) - np.maximum(rect[1], boxes[:, 1])
    return float((np.clip(w, 0, None) * np.clip(h, 0, None)).sum())


def _segment_hits(segment: tuple, rect: tuple) -> float:
    """How much of a segment (x0, y0, x1, y1) runs inside a rectangle, in samples of 10."""
    x0, y0, x1, y1 = segment
    return sum(rect[0] <= x0 + t * (x1 - x0) <= rect[2] and rect[1] <= y0 + t * (y1 - y0) <= rect[3] for t in np.linspace(0, 1, 10)) * 10.0


def _crosses(a: tuple, b: tuple) -> float:
    def orient(p, q, r):
        return np.sign((q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0]))
    p1, p2, q1, q2 = a[:2], a[2:], b[:2], b[2:]
    return 100.0 if orient(p1, p2, q1) * orient(p1, p2, q2) < 0 and orient(q1, q2, p1) * orient(q1, q2, p2) < 0 else 0.0


# ---------------------------------------------------------------------------------------------
# The figures
# ---------------------------------------------------------------------------------------------

def _accuracy_scatter(summary: Summary, x: str, title: str, xlabel: str, measured: str, path: Path) -> pd.DataFrame:
    """Mean test accuracy vs a cost (x, lower is better); one point per cell; Pareto frontier labelled."""
    cells = summary.cells
    shown = cells[(cells["n_seeds"] > 0) & cells[x].notna() & (cells[x] > 0)].reset_index(drop=True)
    acc, err = shown["test_acc"].to_numpy() * 100, shown["test_acc_std"].to_numpy() * 100
    front = pareto_front(np.column_stack([shown[x].to_numpy(), acc]))
    colours, markers = block_colours(cells["block"].unique()), position_markers(cells["position"].unique())
    blocks = sorted(shown["block"].unique(), key=lambda b: (b != BASELINE, b))
    positions = _position_order(shown["position"])
    with matplotlib.rc_context(FONT):
        fig = _new_figure(11.0, 6.6)
        ax = fig.add_subplot()
        for row, a, e in zip(shown.itertuples(index=False), acc, err):
            ax.errorbar(row.__getattribute__(x), a, yerr=None if e != e else e, fmt=markers[row.position], color=colours[row.block],
                        markersize=7, markeredgecolor="white", markeredgewidth=0.6, elinewidth=1.0, capsize=2.5, alpha=0.95, zorder=3)
        log = _maybe_log(ax, "x", shown[x])
        order = np.argsort(shown[x].to_numpy()[front], kind="stable")
        fx, fy = shown[x].to_numpy()[front][order], acc[front][order]
        frontier = []
        if len(fx):  # a grey highlighter behind the points: no block colour is grey
            ax.step(fx, fy, where="post", color=FRONTIER_COLOUR, lw=5, alpha=0.45, solid_capstyle="round", zorder=1)
            ax.plot(fx, fy, "o", markersize=14, markerfacecolor="none", markeredgecolor="#555555", markeredgewidth=0.9, zorder=2)
            frontier = [Line2D([], [], color=FRONTIER_COLOUR, lw=5, alpha=0.6, marker="o", markerfacecolor="none",
                               markeredgecolor="#555555", markersize=10, label="Pareto frontier")]
        ax.margins(x=0.08, y=0.12)
        low, high = ax.get_ylim()
        if high - low < 2.0:  # a single cell or near-equal accuracies: no microscopic y axis
            middle = (low + high) / 2
            ax.set_ylim(middle - 1.0, middle + 1.0)
        ax.set_title(title, loc="left", fontweight="bold")
        ax.set_xlabel(xlabel + (" (log scale)" if log else ""))
        ax.set_ylabel(f"{summary.dataset + ' t' if summary.dataset else 'T'}est accuracy, % ({'mean over seeds' if summary.n_seeds[1] > 1 else 'one seed'})")
        ax.grid(True, which="major", color="#e5e5e5", lw=0.7, zorder=0)
        ax.set_axisbelow(True)
        _scatter_legends(ax, colours, markers, blocks, positions, frontier)
        seeds = _seeds_text(summary)
        lines = [f"Each point: one block at one position; test accuracy {'of' if summary.n_seeds[1] == 1 else 'is the mean over'} {seeds} of training. "
                 + ("Error bars: +/-1 standard deviation over seeds. " if summary.n_seeds[1] >= 2 else
                    "Only 1 seed per cell: no error bars (train more seeds to see the spread). ")
                 + f"{measured} Grey step line through ringed points: the Pareto frontier, the cells that no other cell beats on both axes "
                 "(lower cost and higher accuracy); they are labelled block@position."]
        lines += _excluded_lines(summary)
        _caption(fig, lines)
        bars = [((xv, a - e), (xv, a + e)) for xv, a, e in zip(shown[x], acc, err) if e == e]
        place_labels(fig, ax, fx, fy, [f"{b}@{p}" for b, p in zip(shown["block"][front].to_numpy()[order], shown["position"][front].to_numpy()[order])],
                     np.column_stack([shown[x].to_numpy(), acc]), segments=[_step_vertices(fx, fy), *bars])
        _save_png(fig, path)
    data = shown[["cell", "block", "position", x, "test_acc", "test_acc_std", "n_seeds"]].copy()
    data["pareto"] = front
    return data


def _cost_scatter(summary: Summary, x: str, y: str, title: str, xlabel: str, ylabel: str, notes: Sequence[str], path: Path) -> pd.DataFrame:
    cells = summary.cells
    shown = cells[cells[x].notna() & cells[y].notna() & (cells[x] > 0) & (cells[y] > 0)].reset_index(drop=True)
    colours, markers = block_colours(cells["block"].unique()), position_markers(cells["position"].unique())
    blocks = sorted(shown["block"].unique(), key=lambda b: (b != BASELINE, b))
    positions = _position_order(shown["position"])
    with matplotlib.rc_context(FONT):
        fig = _new_figure(10.5, 6.2)
        ax = fig.add_subplot()
        for row in shown.itertuples(index=False):
            ax.plot(getattr(row, x), getattr(row, y), markers[row.position], color=colours[row.block], markersize=7.5,
                    markeredgecolor="white", markeredgewidth=0.6, alpha=0.95, zorder=3)
        logx, logy = _maybe_log(ax, "x", shown[x]), _maybe_log(ax, "y", shown[y])
        ax.margins(0.08)
        ax.set_title(title, loc="left", fontweight="bold")
        ax.set_xlabel(xlabel + (" (log scale)" if logx else ""))
        ax.set_ylabel(ylabel + (" (log scale)" if logy else ""))
        ax.grid(True, which="major", color="#e5e5e5", lw=0.7)
        ax.set_axisbelow(True)
        _scatter_legends(ax, colours, markers, blocks, positions)
        _caption(fig, ["Each point: one block at one position of the fixed scaffold network (whole-network numbers, one image)."] + list(notes))
        _save_png(fig, path)
    return shown[["cell", "block", "position", x, y]].copy()


def _accuracy_by_position(summary: Summary, path: Path) -> pd.DataFrame:
    cells = summary.cells
    trained = cells[cells["n_seeds"] > 0]
    positions = _position_order(cells["position"])
    colours = {p: POSITION_COLOURS.get(p, BLOCK_PALETTE[(i + 3) % 10]) for i, p in enumerate(positions)}
    order = trained.groupby("block")["test_acc"].mean().sort_values(ascending=False).index.tolist()
    table = cells.set_index(["block", "position"])
    n_pos = len(positions)
    height = 0.8 / n_pos
    acc_values = trained["test_acc"] * 100
    low = acc_values - trained["test_acc_std"].fillna(0) * 100
    start = max(0.0, math.floor((low.min() - 3) / 5) * 5)
    with matplotlib.rc_context(FONT):
        fig = _new_figure(10.5, max(4.8, 1.1 + 0.42 * len(order) * max(1, n_pos / 3) + 1.2))
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
                ax.errorbar(np.asarray(widths) + start, ys, xerr=errs, fmt="none", ecolor="black", elinewidth=0.9, capsize=2.2, zorder=4)
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
            handles.append(Line2D([], [], color=BASELINE_MARK, marker="|", markersize=11, markeredgewidth=2.0, linestyle="",
                                  label=f"{BASELINE} (baseline)\nat the same position"))
        ax.set_yticks(range(len(order)), [b + ("\n(baseline)" if b == BASELINE else "") for b in order])
        ax.set_ylim(len(order) - 0.5, -0.5)  # best block on top
        ax.set_xlim(left=start)
        ax.set_xlabel(f"{summary.dataset + ' t' if summary.dataset else 'T'}est accuracy, % (mean over seeds; axis starts at {start:g}%, not 0)")
        ax.set_title(f"Test accuracy by block and position{' (' + summary.dataset + ')' if summary.dataset else ''}",
                     loc="left", fontweight="bold")
        ax.grid(True, axis="x", color="#e5e5e5", lw=0.7)
        ax.set_axisbelow(True)
        ax.spines["left"].set_visible(False)
        ax.tick_params(axis="y", length=0)
        ax.legend(handles=handles, title="Position of the block", loc="upper left",
                  bbox_to_anchor=(1.01, 1.0), frameon=False, borderaxespad=0.0, alignment="left")
        seeds = _seeds_text(summary)
        lines = [f"Bar: {'test accuracy of' if summary.n_seeds[1] == 1 else 'mean test accuracy over'} {seeds} of one block placed at one position (early/mid/late stage) of the fixed network; "
                 + ("error bars: +/-1 standard deviation over seeds. " if summary.n_seeds[1] >= 2 else "only 1 seed per cell: no error bars. ")
                 + "Blocks sorted by their mean over positions, best on top."
                 + (f" Orange marks: the {BASELINE} baseline's accuracy at the bar's position ("
                    + ", ".join(f"{p} {v:.1f}%" for p, v in baseline.items()) + ")." if baseline else "")]
        lines += _excluded_lines(summary)
        _caption(fig, lines)
        _save_png(fig, path)
    data = trained[["block", "position", "test_acc", "test_acc_std", "n_seeds"]].copy()
    rank = {b: i for i, b in enumerate(order)}
    pos_rank = {p: i for i, p in enumerate(positions)}
    return data.assign(_b=data["block"].map(rank), _p=data["position"].map(pos_rank)).sort_values(["_b", "_p"]).drop(columns=["_b", "_p"])


def _val_curves(curves: pd.DataFrame, results: pd.DataFrame, summary: Summary, path: Path) -> pd.DataFrame | None:
    curves = curves.copy()
    if "seed" not in curves.columns:
        curves["seed"] = 0
    curves["seed"] = pd.to_numeric(curves["seed"], errors="coerce")
    for name in ("epoch", "val_acc"):
        curves[name] = pd.to_numeric(curves[name], errors="coerce")
    curves = curves.dropna(subset=["epoch"])
    # diverged runs (by the results file) are left out of the mean, like everywhere else
    status = _column(results, "train.status")
    bad = results.loc[(status == "diverged").fillna(False).astype(bool).to_numpy(), ["block", "position"]].assign(seed=_numeric(results, "seed"))
    bad_keys = {(b, p, s) for b, p, s in bad.itertuples(index=False)}
    keep = [(b, p, s) not in bad_keys for b, p, s in curves[["block", "position", "seed"]].itertuples(index=False)]
    curves = curves[keep]
    curves = curves[np.isfinite(curves["val_acc"])]
    stats = (curves.groupby(["block", "position", "epoch"])["val_acc"]
             .agg(val_acc_mean="mean", val_acc_std="std", val_acc_min="min", val_acc_max="max", n_seeds="count").reset_index())
    if stats.empty:
        return None
    stats["epoch"] = stats["epoch"].astype(int)
    positions = _position_order(stats["position"])
    colours = block_colours(sorted(set(stats["block"]) | set(summary.cells["block"])))
    # legend in the order the lines end (best final accuracy first, averaged over positions)
    last = stats[stats["epoch"] == stats.groupby(["block", "position"])["epoch"].transform("max")]
    blocks = last.groupby("block")["val_acc_mean"].mean().sort_values(ascending=False).index.tolist()
    n_seeds = stats["n_seeds"]
    seeds = f"{n_seeds.min()}" if n_seeds.min() == n_seeds.max() else f"{n_seeds.min()}-{n_seeds.max()}"
    with matplotlib.rc_context(FONT):
        fig = _new_figure(max(8.5, 3.5 * len(positions) + 2.8), 5.2)
        axes = fig.subplots(1, len(positions), sharey=True, squeeze=False)[0]
        for ax, p in zip(axes, positions):
            for block in blocks:
                part = stats[(stats["block"] == block) & (stats["position"] == p)].sort_values("epoch")
                if part.empty:
                    continue
                ax.fill_between(part["epoch"], part["val_acc_min"] * 100, part["val_acc_max"] * 100, color=colours[block], alpha=0.15, lw=0)
                ax.plot(part["epoch"], part["val_acc_mean"] * 100, color=colours[block], lw=1.3, label=block)
            ax.set_title(f"block at the {p} stage", loc="left")
            ax.set_xlabel("Epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(True, color="#e5e5e5", lw=0.7)
            ax.set_axisbelow(True)
        axes[0].set_ylabel(f"{summary.dataset + ' v' if summary.dataset else 'V'}alidation accuracy, %")
        handles = [Line2D([], [], color=colours[b], lw=2, label=b + (" (baseline)" if b == BASELINE else "")) for b in blocks]
        fig.legend(handles=handles, title="Block (by final accuracy)", loc="outside right upper", frameon=False, alignment="left")
        fig.suptitle("Validation accuracy during training, per position of the block", x=0.01, ha="left", fontweight="bold", fontsize=11)
        lines = [f"Line: mean over {seeds} seed{'s' * (seeds != '1')} of one block at one position; shaded band: min to max over seeds."
                 + (" Panels share the y axis." if len(positions) > 1 else "")]
        lines += _excluded_lines(summary, with_untrained=False)
        _caption(fig, lines)
        _save_png(fig, path)
    return stats[["block", "position", "epoch", "val_acc_mean", "val_acc_std", "val_acc_min", "val_acc_max", "n_seeds"]]


# ---------------------------------------------------------------------------------------------
# draw_all and the command line
# ---------------------------------------------------------------------------------------------

def _note(message: str) -> None:
    print(f"note: {message}")


def draw_all(results_frame: pd.DataFrame, curves_frame: pd.DataFrame | None, out_dir: str | Path,
             *, latency_column: str = DEFAULT_LATENCY) -> list[Path]:
    """Draw every figure the data allows into out_dir (PNG) and out_dir/data (CSV); return the written files."""
    _check_latency_column(latency_column)
    _check_frame(results_frame)
    if curves_frame is not None:
        _check_curves(curves_frame, "the curves frame")
    out_dir = Path(out_dir)
    written: list[Path] = []
    if results_frame.empty:
        _note("the results have no rows: nothing to draw")
        return written
    summary = summarize(results_frame, latency_column)
    cells = summary.cells
    data_dir = out_dir / "data"
    device_short, device = _device_text(results_frame, latency_column)
    stat, batch = _latency_text(results_frame, latency_column)
    _, flops_form = _flops_column(results_frame)
    _, params_form = _params_column(results_frame)
    has_acc = bool((cells["n_seeds"] > 0).any())
    has_latency, has_flops, has_params = (bool(cells[c].notna().any()) for c in ("latency_ms", "flops_m", "params_m"))
    accuracy = f"{summary.dataset} test accuracy" if summary.dataset else "Test accuracy"
    latency_label = f"Latency, ms ({stat}, {batch}, {device_short})"
    flops_label = f"FLOPs of the whole network per image, MFLOPs ({flops_form}; fvcore, 1 multiply-add = 1 FLOP)"
    no_acc = [] if has_acc else ["Accuracy is not available yet (no trained rows in this results file): train first, then re-run."]

    def save(name: str, data: pd.DataFrame, png: Path) -> None:
        written.append(png)
        written.append(_save_csv(data, data_dir / f"{name}.csv"))

    if has_acc and has_latency:
        data = _accuracy_scatter(summary, "latency_ms", f"{accuracy} vs latency ({batch}, {device_short})",
                                 latency_label, f"Latency: {stat}, {batch}, measured on {device}.", out_dir / "accuracy_vs_latency.png")
        save("accuracy_vs_latency", data, out_dir / "accuracy_vs_latency.png")
    elif has_acc:
        _note(f"no latency in column {latency_column}: accuracy_vs_latency skipped (run the benchmark stage)")
    if has_acc and has_flops:
        data = _accuracy_scatter(summary, "flops_m", f"{accuracy} vs FLOPs", flops_label,
                                 f"FLOPs counted by fvcore ({flops_form}), one image.", out_dir / "accuracy_vs_flops.png")
        save("accuracy_vs_flops", data, out_dir / "accuracy_vs_flops.png")
    elif has_acc:
        _note("no FLOPs in the results: accuracy_vs_flops skipped (run the profile stage)")
    if not has_acc:
        _note("no test accuracy in the results (not trained yet): accuracy_vs_latency, accuracy_vs_flops and accuracy_by_position "
              "skipped; latency_vs_flops and params_vs_flops drawn instead")
    if has_latency and has_flops:
        title = f"Latency ({batch}, {device_short}) vs FLOPs" + (" (accuracy not available yet: train first)" if not has_acc else "")
        data = _cost_scatter(summary, "flops_m", "latency_ms", title, flops_label, f"Latency, ms ({stat}, {batch})",
                             [f"Latency: {stat}, {batch}, measured on {device}."] + no_acc, out_dir / "latency_vs_flops.png")
        save("latency_vs_flops", data, out_dir / "latency_vs_flops.png")
    else:
        _note("latency_vs_flops skipped: the results lack " + " and ".join(n for n, ok in (("latency", has_latency), ("FLOPs", has_flops)) if not ok))
    if has_params and has_flops:
        title = "Parameters vs FLOPs" + (" (accuracy not available yet: train first)" if not has_acc else "")
        data = _cost_scatter(summary, "flops_m", "params_m", title, flops_label, f"Parameters of the whole network, millions ({params_form})",
                             no_acc, out_dir / "params_vs_flops.png")
        save("params_vs_flops", data, out_dir / "params_vs_flops.png")
    else:
        _note("params_vs_flops skipped: the results lack " + " and ".join(n for n, ok in (("parameters", has_params), ("FLOPs", has_flops)) if not ok))
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


def _check_curves(frame, what: str) -> None:
    missing = [c for c in CURVE_COLUMNS if c not in getattr(frame, "columns", ())]
    if missing:
        raise BlockzooError(f"{what} is not a curves file (missing columns: {', '.join(missing)}; needs {', '.join(CURVE_COLUMNS)}, seed optional); "
                            "give the curves.csv written by the aggregate stage")


def read_curves(path: str | Path) -> pd.DataFrame:
    """Read a long-format curves CSV (block, position, seed, epoch, val_acc, ...)."""
    path = Path(path)
    if not path.is_file():
        raise BlockzooError(f"curves file {path} does not exist; run the aggregate stage, or leave out --curves")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise BlockzooError(f"curves file {path} is not a readable CSV ({str(exc).splitlines()[0] if str(exc) else exc}); re-create it with the aggregate stage") from None
    _check_curves(frame, f"{path}")
    for name in ("epoch", "val_acc"):
        if pd.to_numeric(frame[name], errors="coerce").isna().all() and len(frame):
            raise BlockzooError(f"{path}: column '{name}' holds no numbers; re-create the file with the aggregate stage")
    return frame


@cli_errors
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m blockzoo.visualize", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path, help="results.csv written by the aggregate stage")
    parser.add_argument("--curves", type=Path, default=None, help="long-format per-epoch curves CSV (default: curves.csv next to the results, if there)")
    parser.add_argument("--out", type=Path, default=Path("plots"), help="output folder for the PNGs; their data goes to <out>/data (default: plots)")
    parser.add_argument("--latency-column", default=DEFAULT_LATENCY, metavar="COLUMN",
                        help=f"latency column for accuracy_vs_latency (default {DEFAULT_LATENCY}; one of {', '.join(LATENCY_COLUMNS)})")
    args = parser.parse_args(argv)
    _check_latency_column(args.latency_column)
    frame = read_results(args.results)
    if frame.empty:
        raise BlockzooError(f"results file {args.results} has no rows; run the pipeline (dvc repro) first")
    curves_path = args.curves
    if curves_path is None and (args.results.parent / "curves.csv").is_file():
        curves_path = args.results.parent / "curves.csv"
    curves = read_curves(curves_path) if curves_path is not None else None
    written = draw_all(frame, curves, args.out, latency_column=args.latency_column)
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
