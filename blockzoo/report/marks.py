"""The marks every figure shares: axes set from the bulk of the data with outliers clipped to the edge and
marked, the Pareto frontier, the latency noise, and the statistics of a cell (interval, verdict, still
improving) from the leaderboard."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from blockzoo.errors import BlockzooError
from blockzoo.report.summary import pareto_front

FENCE = 3.0  # interquartile ranges beyond the quartiles: a value further out is an outlier, drawn at the edge
MIN_BULK = 5  # fewer values than this: all of them are the bulk
PAD = 0.07  # share of the bulk's range left free on each side
FRONTIER_COLOUR = "#9a9a9a"
RING = {"s": 190, "facecolors": "none", "edgecolors": "#555555", "linewidths": 0.9, "zorder": 2}
STATS_COLUMNS = ("test_acc_ci95_low", "test_acc_ci95_high", "diff_vs_baseline", "diff_ci95_low", "diff_ci95_high",
                 "p_value", "verdict", "rank_best", "rank_worst", "still_improving")
VERDICTS = ("baseline", "better", "worse", "not resolved")
IMPROVING_MARK = {"marker": r"$\uparrow$", "color": "#333333", "markersize": 7, "linestyle": ""}
IMPROVING_OFFSET = (0.0, 8.5)  # points: the arrow sits above its marker


# --- axes from the bulk of the data --------------------------------------------------------------

@dataclass
class Bulk:
    """The range of one axis drawn (`low`, `high`, in data units) and where an outlier is drawn instead."""
    low: float
    high: float
    log: bool

    def _forward(self, v):
        return np.log10(v) if self.log else np.asarray(v, dtype=float)

    def _back(self, v):
        return 10 ** v if self.log else v

    def side(self, values) -> np.ndarray:
        """-1 below the range, +1 above it, 0 inside (NaN: 0)."""
        values = np.asarray(values, dtype=float)
        with np.errstate(invalid="ignore"):
            return np.where(values < self.low, -1, np.where(values > self.high, 1, 0))

    def shown(self, values) -> np.ndarray:
        """The values where they are drawn: an outlier just inside the edge it lies beyond."""
        lo, hi = self._forward(self.low), self._forward(self.high)
        inset = (hi - lo) * 0.025
        side = self.side(values)
        edge = np.where(side < 0, self._back(lo + inset), self._back(hi - inset))
        return np.where(side == 0, np.asarray(values, dtype=float), edge)

    def apply(self, ax, axis: str) -> None:
        getattr(ax, f"set_{axis}lim")(self.low, self.high)


def bulk(values, log: bool = False, extent=(), min_span: float = 0.0) -> Bulk:
    """The range of an axis from the bulk of `values`: those within FENCE interquartile ranges of the quartiles
    (in log10 where `log`), widened to the bulk points' `extent` (e.g. their interval ends, (low, high) arrays)
    but never past the fences, padded by PAD of its width and at least `min_span` wide (data units, linear)."""
    values = np.asarray(values, dtype=float)
    ok = np.isfinite(values) & ((values > 0) if log else True)
    t = np.log10(values[ok]) if log else values[ok]
    if not len(t):
        return Bulk(0.0, 1.0, log) if not log else Bulk(1.0, 10.0, log)
    if len(t) >= MIN_BULK:
        q1, q3 = np.percentile(t, [25, 75])
        spread = max(q3 - q1, (t.max() - t.min()) * 0.05, 1e-9)
        fence = (q1 - FENCE * spread, q3 + FENCE * spread)
    else:
        fence = (t.min(), t.max())
    inside = (t >= fence[0]) & (t <= fence[1])
    lo, hi = t[inside].min(), t[inside].max()
    for ends in extent:
        ends = np.asarray(ends, dtype=float)[ok][inside]
        ends = ends[np.isfinite(ends) & ((ends > 0) if log else True)]
        if len(ends):
            ends = np.log10(ends) if log else ends
            lo, hi = min(lo, max(ends.min(), fence[0])), max(hi, min(ends.max(), fence[1]))
    pad = (hi - lo) * PAD if hi > lo else (abs(lo) * 0.05 if lo else 0.5)
    lo, hi = lo - pad, hi + pad
    if log:
        return Bulk(10 ** lo, 10 ** hi, True)
    if hi - lo < min_span:
        middle = (lo + hi) / 2
        lo, hi = middle - min_span / 2, middle + min_span / 2
    return Bulk(float(lo), float(hi), False)


def edge_value(x_bulk: Bulk | None, y_bulk: Bulk | None, x: float, y: float, x_text, y_text) -> str:
    """For a point drawn at an edge: an arrow the way its true value lies and the value, e.g. '▼ 47.1%'; '' for
    a point inside the axes. x_text / y_text: how a value reads."""
    parts = []
    side_y = int(y_bulk.side([y])[0]) if y_bulk else 0
    side_x = int(x_bulk.side([x])[0]) if x_bulk else 0
    if side_y:
        parts.append(("▲ " if side_y > 0 else "▼ ") + y_text(y))
    if side_x:
        parts.append(("▶ " if side_x > 0 else "◀ ") + x_text(x))
    return ", ".join(parts)


def edge_labels(x_bulk: Bulk | None, y_bulk: Bulk | None, x, y, names, x_text, y_text) -> list[tuple]:
    """(x, y, text) labels for the points drawn at an edge, where they are drawn: edge_value and the name,
    e.g. '▼ 47.1%: UniversalInvertedBottleneck-late'."""
    xs = x_bulk.shown(x) if x_bulk else np.asarray(x, dtype=float)
    ys = y_bulk.shown(y) if y_bulk else np.asarray(y, dtype=float)
    labels = []
    for i, name in enumerate(names):
        value = edge_value(x_bulk, y_bulk, x[i], y[i], x_text, y_text)
        if value:
            labels.append((xs[i], ys[i], f"{value}: {name}"))
    return labels


def cut_at_axis(ax, axis: str, values, err, bulk: Bulk, across) -> int:
    """Cut error bars (err: 2 x n, below / above values) at the axis range in place, and draw an arrowhead at
    each cut end (at `across` on the other axis). Returns how many bars were cut."""
    values = np.asarray(values, dtype=float)
    lower, upper = values - err[0], values + err[1]
    with np.errstate(invalid="ignore"):
        below, above = lower < bulk.low, upper > bulk.high
    err[0] = np.where(below, values - bulk.low, err[0])
    err[1] = np.where(above, bulk.high - values, err[1])
    # tri markers: not the filled triangles that mark a point drawn beyond the axis (edge_legend)
    ends = ((below, bulk.low, "1" if axis == "y" else "3"), (above, bulk.high, "2" if axis == "y" else "4"))
    for cut, edge, marker in ends:
        if cut.any():
            at = np.full(int(cut.sum()), edge)
            xy = (np.asarray(across)[cut], at) if axis == "y" else (at, np.asarray(across)[cut])
            ax.plot(*xy, linestyle="", marker=marker, markersize=7, markeredgewidth=1.2, color="#555555", zorder=2,
                    clip_on=False)
    return int((below | above).sum())


def cut_lines(count: int) -> list[str]:
    return [f"Intervals running past the axis are cut at its edge, the cut end marked with a small fork: {count}."
            ] if count else []


def cut_legend(axis: str = "y") -> Line2D:
    return Line2D([], [], linestyle="", marker="2" if axis == "y" else "4", markersize=7, markeredgewidth=1.2,
                  color="#555555", label="95% interval cut\nat the axis edge")


def edge_legend() -> Line2D:
    return Line2D([], [], linestyle="", marker=r"$\blacktriangledown$", color="#555555", markersize=7,
                  label="beyond the axis: at the\nedge, value written")


def edge_line(labels: list[tuple], noun: str = "cells") -> list[str]:
    if not labels:
        return []
    return [f"Axes show the bulk of the {noun}; {len(labels)} outlier{'s' * (len(labels) != 1)} beyond them "
            f"{'is' if len(labels) == 1 else 'are'} drawn at the edge with an arrow and the value "
            "(" + "; ".join(text for _, _, text in labels) + ")."]


# --- the Pareto frontier ---------------------------------------------------------------------------

def frontier(x, y, eligible=None) -> tuple[np.ndarray, np.ndarray]:
    """(mask, index): the Pareto-optimal points (lower x, higher y) among the eligible ones, and their indices
    in order of x."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    eligible = np.ones(len(x), dtype=bool) if eligible is None else np.asarray(eligible, dtype=bool)
    front = np.zeros(len(x), dtype=bool)
    if eligible.any():
        front[eligible] = pareto_front(np.column_stack([x, y])[eligible])
    index = np.flatnonzero(front)[np.argsort(x[front], kind="stable")]
    return front, index


def draw_frontier(ax, fx, fy, dotted=None, colour: str = FRONTIER_COLOUR, label: str = "Pareto frontier"
                  ) -> list[Line2D]:
    """The frontier as a highlighter step line behind the points, grey by default (no block colour is grey),
    each of its points ringed; a ring dotted where `dotted` (the point's lead is within the noise). `colour`:
    one frontier per group (e.g. per search space) in the group's colour. Returns legend entries."""
    if not len(fx):
        return []
    dotted = np.zeros(len(fx), dtype=bool) if dotted is None else np.asarray(dotted, dtype=bool)
    ax.step(fx, fy, where="post", color=colour, lw=5, alpha=0.45, solid_capstyle="round", zorder=1)
    for style, which in (("solid", ~dotted), ("dotted", dotted)):
        if which.any():
            ax.scatter(np.asarray(fx)[which], np.asarray(fy)[which], linestyles=style, **RING)
    handles = [Line2D([], [], color=colour, lw=5, alpha=0.6, marker="o", markerfacecolor="none",
                      markeredgecolor="#555555", markersize=10, label=label)]
    if dotted.any():
        handles.append(Line2D([], [], color="#555555", marker="o", linestyle="", markersize=10,
                              markerfacecolor="none", markeredgewidth=0.9, dashes=(1, 1),
                              label="frontier, lead within\nlatency noise"))
    return handles


# --- the latency noise ---------------------------------------------------------------------------

def within_noise(low, high) -> np.ndarray:
    """For frontier points in order of cost: True where a point's spread [low, high] overlaps the next point's,
    so that its lead (lower cost) is within the measurement's noise. Unknown spreads claim nothing."""
    low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    if not len(low):
        return np.zeros(0, dtype=bool)
    overlap = np.maximum(low[:-1], low[1:]) <= np.minimum(high[:-1], high[1:])  # False where any is NaN
    return np.append(overlap, False)


def within_ratio(latency, ratio: float | None) -> np.ndarray:
    """For frontier latencies in increasing order: True where the next one is within `ratio` (the baseline's
    max / min over its separate measurements) of this one, a lead the noise between measurements can make."""
    latency = np.asarray(latency, dtype=float)
    if ratio is None or len(latency) < 2:
        return np.zeros(len(latency), dtype=bool)
    return np.append(latency[1:] <= latency[:-1] * ratio, False)


def noise_ratio(check: dict | None) -> float | None:
    """max / min of the baseline network's latency over its separate measurements (the noise check), or None
    where it was measured once."""
    if not check or check.get("measurements", 0) < 2:
        return None
    return check["latency_max_ms"] / check["latency_min_ms"]


def noise_span(ax, check: dict, at: float, axis: str) -> Line2D:
    """The baseline network's separate measurements as one span, from the least to the most, at `at` on the
    other axis: the noise between measurements as it is. Returns its legend entry."""
    low, high = check["latency_min_ms"], check["latency_max_ms"]
    style = {"color": "black", "lw": 1.2, "ls": (0, (4, 2)), "zorder": 2.5}
    if axis == "x":
        ax.plot([low, high], [at, at], **style)
    else:
        ax.plot([at, at], [low, high], **style)
    return Line2D([], [], label=f"baseline timed {check['measurements']}x apart:\nnoise between runs",
                  **{**style, "zorder": 1})


def noise_lines(check: dict | None, what: str) -> list[str]:
    if check is None:
        return []
    if check.get("measurements", 0) < 2:
        return ["The baseline network was timed once: the noise between separate measurements is not known "
                "(time it at every position to see it)."]
    return [f"Dashed {what} span: the baseline network, the same network at every position, timed "
            f"{check['measurements']} times in separate processes: {check['latency_min_ms']:.3g}-"
            f"{check['latency_max_ms']:.3g} ms (spread {check['spread_pct']:.0f}%), the noise between measurements."]


def dotted_ring_line(noisy, check: dict | None) -> list[str]:
    """The caption of the dotted rings draw_frontier drew (none: no line)."""
    if not np.asarray(noisy, dtype=bool).any():
        return []
    measured = check is not None and check.get("measurements", 0) >= 2
    spread = " or within the baseline's spread between measurements" if measured else ""
    return [f"Dotted ring on a frontier point: its p10-p90 latency overlaps the next frontier point's{spread}: "
            "its lead is not a clear win."]


# --- a cell's statistics, from the leaderboard -------------------------------------------------------

def check_stats(leaderboard: pd.DataFrame) -> None:
    """The leaderboard's interval and verdict columns, or one line naming the first one missing."""
    for name in ("block", "position", *STATS_COLUMNS):
        if name not in leaderboard.columns:
            raise BlockzooError(f"the leaderboard has no column '{name}' (an older table?): the accuracy figures "
                                "draw its 95% intervals and verdicts; re-run the aggregate stage to write them")
    bad = sorted(set(leaderboard["verdict"].dropna().astype(str)) - set(VERDICTS))
    if bad:
        raise BlockzooError(f"the leaderboard's verdict column holds {', '.join(bad)}; expected one of "
                            f"{', '.join(VERDICTS)}: re-run the aggregate stage")


def with_stats(cells: pd.DataFrame, leaderboard: pd.DataFrame) -> pd.DataFrame:
    """The summary's cells with the leaderboard's interval, verdict and still-improving columns."""
    check_stats(leaderboard)
    stats = leaderboard[["block", "position", *STATS_COLUMNS]].copy()
    stats[["block", "position"]] = stats[["block", "position"]].astype(str)
    stats["still_improving"] = stats["still_improving"].map(lambda v: str(v).strip().lower() in ("true", "1"))
    merged = cells.merge(stats, on=["block", "position"], how="left")
    merged["still_improving"] = merged["still_improving"].fillna(False).astype(bool)
    merged["verdict"] = merged["verdict"].fillna("not resolved")
    return merged


def resolved(verdicts) -> np.ndarray:
    """Drawn filled: the baseline and the cells resolved better or worse; hollow: not resolved."""
    return np.asarray([v != "not resolved" for v in verdicts], dtype=bool)


def improving_line(cells: pd.DataFrame) -> list[str]:
    if not cells["still_improving"].any():
        return []
    return [f"Arrow above a point: still improving at its last epoch ({int(cells['still_improving'].sum())} cells); "
            "more epochs may move it."]


def verdict_legend(improving: bool) -> list[Line2D]:
    handles = [Line2D([], [], color="#555555", marker="o", linestyle="", markersize=6.5,
                      label="filled: resolved better\nor worse than baseline"),
               Line2D([], [], color="#555555", marker="o", linestyle="", markersize=6.5, markerfacecolor="white",
                      markeredgewidth=1.4, label="hollow: not resolved")]
    if improving:
        handles.append(Line2D([], [], label="still improving", **IMPROVING_MARK))
    return handles


def interval_err(values, low, high) -> np.ndarray | None:
    """Asymmetric error bars (2, n) from each value to its interval's ends (0 where unknown); None if none known."""
    values, low, high = (np.asarray(a, dtype=float) for a in (values, low, high))
    if not (np.isfinite(low) | np.isfinite(high)).any():
        return None
    return np.vstack([np.nan_to_num(np.clip(values - low, 0, None)), np.nan_to_num(np.clip(high - values, 0, None))])
