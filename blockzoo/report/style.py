"""The look of every figure: colours per block, markers per position, legends, captions, saving."""
from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from blockzoo import atomic
from blockzoo.names import BASELINE_BLOCK as BASELINE
from blockzoo.report.summary import position_order

DPI = 150
# Colour per block (the baseline is black, the others take tab10 in name order), marker per position;
# in the bar chart the positions are a light-to-dark blue ramp (colour-blind safe, ordered like the net).
BLOCK_PALETTE = ([matplotlib.colormaps["tab10"](i) for i in range(10)]
                 + [matplotlib.colormaps["tab20"](2 * i + 1) for i in range(10)])
BASELINE_COLOUR = "#000000"
POSITION_MARKERS = {"early": "o", "mid": "s", "late": "^"}
EXTRA_MARKERS = ("D", "v", "P", "X", "<", ">")
FRONTIER_COLOUR = "#9a9a9a"
POSITION_COLOURS = {"early": "#9ecae1", "mid": "#4292c6", "late": "#08519c"}
BASELINE_MARK = "#d95f02"  # orange: stands out on the blue bars and from the black error bars

SI_UNITS = ((1e9, "G"), (1e6, "M"), (1e3, "K"))
FONT = {"font.size": 9, "axes.titlesize": 11, "axes.labelsize": 9.5, "legend.fontsize": 8, "legend.title_fontsize": 8.5,
        "xtick.labelsize": 8.5, "ytick.labelsize": 8.5, "axes.spines.top": False, "axes.spines.right": False}


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
    for p in position_order(positions):
        if p not in markers:
            markers[p] = next(extra)
    return markers


def new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


class Caption:
    """The caption at the bottom of a figure: its space reserved when it is made, for its lines and for any
    `optional` lines that may be added once the figure is laid out (e.g. a note on dodged markers, known only
    after dodging), so that the figure is laid out, and drawn, once. `write` puts the text in."""

    def __init__(self, fig: Figure, lines: Sequence[str], optional: Sequence[str] = (), fontsize: float = 8.0):
        self.fig, self.lines, self.fontsize = fig, list(lines), fontsize
        self.width_chars = int(fig.get_figwidth() * 72 / (fontsize * 0.56))
        reserved = len(self._wrapped([*self.lines, *optional]))
        self.height = (fontsize * 1.35 / 72 / fig.get_figheight()) * reserved + 0.012 if reserved else 0.0
        if reserved:
            fig.get_layout_engine().set(rect=(0, self.height, 1, 1 - self.height))

    def _wrapped(self, lines: Sequence[str]) -> list[str]:
        return [w for line in lines if line for w in textwrap.wrap(line, self.width_chars, subsequent_indent="  ")]

    def write(self, extra: Sequence[str] = ()) -> None:
        wrapped = self._wrapped([*self.lines, *extra])
        if wrapped:
            self.fig.text(0.008, self.height - 0.006, "\n".join(wrapped), ha="left", va="top",
                          fontsize=self.fontsize, color="#333333", linespacing=1.35)


def caption(fig: Figure, lines: Sequence[str], fontsize: float = 8.0) -> None:
    """Reserve the bottom of the figure for caption lines (wrapped to its width) and write them there."""
    Caption(fig, lines, fontsize=fontsize).write()


def header(text: str) -> Line2D:
    """A legend entry without a mark: a bold heading (or, empty, a gap) between groups of entries."""
    return Line2D([], [], linestyle="", marker="", label=text)


def legend_outside(owner, handles: Sequence) -> None:
    """The house legend: outside on the right of the axes (or of the figure's panels, owner a Figure), headers
    (header()) in bold."""
    if isinstance(owner, Figure):
        legend = owner.legend(handles=handles, loc="outside right upper", frameon=False, alignment="left")
    else:
        legend = owner.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
                              borderaxespad=0.0, handletextpad=0.5, labelspacing=0.45, alignment="left")
    for handle, text in zip(handles, legend.get_texts(), strict=False):
        if isinstance(handle, Line2D) and not handle.get_marker() and handle.get_linestyle() in ("", "None"):
            text.set_fontweight("bold")


def title(ax, text: str) -> None:
    ax.set_title(text, loc="left", fontweight="bold")


def grid(ax, axis: str = "both") -> None:
    ax.grid(True, axis=axis, which="major", color="#e5e5e5", lw=0.7, zorder=0)
    ax.set_axisbelow(True)


def scatter_legends(
    ax, colours: dict, markers: dict, blocks: Sequence[str], positions: Sequence[str], extra: Sequence = ()
) -> None:
    """One legend outside the axes (right): blocks by colour, then positions by marker, then extras."""
    handles = [header("Block (colour)")]
    handles += [Line2D([], [], color=colours[b], marker="o", linestyle="", markersize=6.5,
                       label=b + (" (baseline)" if b == BASELINE else ""))
                for b in blocks]
    handles += [header(""), header("Position (marker)")]
    handles += [Line2D([], [], color="#555555", marker=markers[p], linestyle="", markersize=6.5, label=p)
                for p in positions]
    if extra:
        handles += [header("")] + list(extra)
    legend_outside(ax, handles)


def maybe_log(ax, axis: str, values) -> bool:
    values = np.asarray([v for v in values if v == v and v > 0], dtype=float)
    if len(values) < 2 or values.max() / values.min() <= 10:
        return False
    getattr(ax, f"set_{axis}scale")("log")
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    target.set_minor_formatter(NullFormatter())
    return True


def si_unit(value: float) -> tuple[float, str]:
    """The largest of G, M and K not above |value| (1 and no suffix below a thousand)."""
    return next(((factor, suffix) for factor, suffix in SI_UNITS if abs(value) >= factor), (1.0, ""))


def si_text(value: float, unit: tuple[float, str] | None = None) -> str:
    """A count as e.g. '40K', '0.5M', '1.2G': in `unit` (factor, suffix), else in its own."""
    if value == 0:
        return "0"
    factor, suffix = unit or si_unit(value)
    if abs(value / factor) >= 1000:  # a tick past the data's range: its own unit, never '1e+03K'
        factor, suffix = si_unit(value)
    return f"{value / factor:.3g}{suffix}"


def si_axis(ax, axis: str, values, scale: float = 1.0) -> None:
    """Ticks of a count axis (values times `scale`) in K, M or G, e.g. '40K, 60K, 80K' or '0.5M, 1M'.

    A linear axis takes one unit, from the largest value; a log axis spans decades, so each tick its own."""
    target = ax.xaxis if axis == "x" else ax.yaxis
    finite = [abs(v) * scale for v in values if v == v]
    log = (ax.get_xscale() if axis == "x" else ax.get_yscale()) == "log"
    unit = None if log or not finite else si_unit(max(finite))
    target.set_major_formatter(FuncFormatter(lambda v, _: si_text(v * scale, unit)))
    target.set_minor_formatter(NullFormatter())


def save_png(fig: Figure, path: Path) -> Path:
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=DPI, facecolor="white")
    return path


def save_csv(frame: pd.DataFrame, path: Path) -> Path:
    atomic.write_text(path, frame.to_csv(index=False, float_format="%.6g", lineterminator="\n"))
    return path
