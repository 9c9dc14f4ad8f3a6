"""Figures of the macro results: accuracy against FLOPs and parameters, both spaces and their Pareto fronts,
the uniform networks marked; and the search baselines' trajectories against the exhaustive best."""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.colors import to_rgba
from matplotlib.lines import Line2D

from blockzoo.macro.dataset import MacroDataset
from blockzoo.macro.search import random_search, regularized_evolution
from blockzoo.report import marks
from blockzoo.report.labels import place_labels, step_vertices
from blockzoo.report.stats import interval_from_std
from blockzoo.report.style import (
    FONT,
    Caption,
    grid,
    header,
    legend_outside,
    maybe_log,
    new_figure,
    save_csv,
    save_png,
    si_axis,
    si_text,
    title,
)
from blockzoo.report.summary import DATASET_NAMES

SPACE_STYLE = {"blox": ("#1f77b4", "o", "BLOX space"), "zoo": ("#d95f02", "s", "zoo space (a block per stage)")}
COSTS = {"flops": ("flops", "FLOPs per image", "FLOPs"), "params": ("params", "parameters", "params")}


def _intervals(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Each architecture's 95% t-interval of its mean test accuracy over seeds, in % (NaN with one seed)."""
    ends = [interval_from_std(row.test_acc * 100, row.test_acc_std * 100, int(row.seeds))
            for row in table.itertuples(index=False)]
    return np.array([lo for lo, _ in ends], dtype=float), np.array([hi for _, hi in ends], dtype=float)


def accuracy_vs_cost(dataset: MacroDataset, cost: str, path: Path, title_note: str = "") -> pd.DataFrame:
    """Mean test accuracy (95% interval over seeds) vs FLOPs or parameters, one point per architecture, a
    Pareto frontier per space, the uniform networks starred; axes from the bulk, outliers at the edge."""
    column, label, unit = COSTS[cost]
    table = dataset.table().dropna(subset=[column, "test_acc"]).reset_index(drop=True)
    uniform = table["id"].isin(set(dataset.uniform())).to_numpy()
    x, y = table[column].to_numpy(float), table["test_acc"].to_numpy(float) * 100
    low, high = _intervals(table)
    with matplotlib.rc_context(FONT):
        fig = new_figure(11.0, 6.6)
        ax = fig.add_subplot()
        log = maybe_log(ax, "x", x)
        x_bulk, y_bulk = marks.bulk(x, log), marks.bulk(y, extent=(low, high), min_span=2.0)
        x_bulk.apply(ax, "x")
        y_bulk.apply(ax, "y")
        si_axis(ax, "x", x)
        px, py = x_bulk.shown(x), y_bulk.shown(y)
        yerr = marks.interval_err(y, low, high)
        if yerr is not None:
            yerr[:, (x_bulk.side(x) != 0) | (y_bulk.side(y) != 0)] = 0  # an outlier at the edge: no bar
        cut = marks.cut_at_axis(ax, "y", py, yerr, y_bulk, px) if yerr is not None else 0
        handles, labelled, fronts = [header("Space (colour, marker)")], [], []
        for space, (colour, marker, name) in SPACE_STYLE.items():
            part = np.flatnonzero((table["space"] == space).to_numpy())
            if not len(part):
                continue
            for i in part:
                artist = ax.errorbar(px[i], py[i], yerr=None if yerr is None else yerr[:, i:i + 1], fmt=marker,
                                     color=colour, ecolor=to_rgba(colour, 0.45), markersize=6.5,
                                     markeredgecolor="white", markeredgewidth=0.5, elinewidth=0.9, capsize=2.0,
                                     zorder=3)
                artist[0].set_gid(f"arch:{table['id'][i]}")
            stars = part[uniform[part]]
            ax.scatter(px[stars], py[stars], s=170, facecolors="none", edgecolors=colour, linewidths=1.3,
                       marker="*", zorder=4)
            _, index = marks.frontier(x[part], y[part])
            front = part[index]
            handles += [Line2D([], [], color=colour, marker=marker, linestyle="", markersize=6.5,
                               label=f"{name}: {len(part)}")]
            handles += marks.draw_frontier(ax, px[front], py[front], colour=colour, label=f"{space} frontier")
            fronts.append(step_vertices(px[front], py[front]))
            labelled += [(px[i], py[i], table["id"][i]) for i in sorted(set(front) | set(stars))]
        handles += [header(""), Line2D([], [], color="#555555", marker="*", markerfacecolor="none", markersize=11,
                                       linestyle="", label="uniform: the same block\nor cell at every stage")]
        edges = marks.edge_labels(x_bulk, y_bulk, x, y, list(table["id"]), lambda v: f"{si_text(v)} {unit}",
                                  lambda v: f"{v:.1f}%")
        handles += ([marks.edge_legend()] if edges else []) + ([marks.cut_legend()] if cut else [])
        datasets = sorted(DATASET_NAMES.get(d, d) for d in dataset.frame["dataset"].dropna().unique())
        recipes = sorted(str(r) for r in dataset.frame["recipe"].dropna().unique())
        seeds = sorted({int(s) for s in table["seeds"]})
        several = max(seeds, default=1) > 1
        ax.set_xlabel(label + (" (log scale)" if log else ""))
        ax.set_ylabel(f"Test accuracy, % ({', '.join(datasets) or 'dataset not recorded'}; "
                      f"{'mean over seeds' if several else 'one seed'})")
        title(ax, f"Macro architectures: accuracy vs {unit}{title_note}")
        grid(ax)
        legend_outside(ax, handles)
        lines = ["Each point: one architecture (one block or BLOX cell per stage), trained with "
                 f"{'/'.join(map(str, seeds))} seed(s); "
                 + ("error bars: the 95% t-interval of its mean over seeds. " if several else
                    "one seed each: no interval, and differences between points may be seed noise. ")
                 + "The step lines are each space's Pareto frontier (no other architecture of that space has a "
                 "lower cost and a higher accuracy), its ringed points and the uniform ones labelled by id. "
                 f"Training recipe(s): {', '.join(recipes) or 'not recorded'}. FLOPs: one multiply-add or one "
                 "elementwise op per output element = 1 FLOP, one image."]
        lines += marks.edge_line(edges, "architectures") + marks.cut_lines(cut)
        Caption(fig, lines).write()
        labelled += [(ex, ey, text) for ex, ey, text in edges]
        if labelled:
            xs, ys, texts = zip(*labelled, strict=True)
            bars = [] if yerr is None else [((v, a - down), (v, a + up)) for v, a, down, up in zip(px, py, *yerr,
                                                                                               strict=True)]
            place_labels(fig, ax, np.array(xs), np.array(ys), list(texts), np.column_stack([px, py]),
                         segments=[*fronts, *bars], fontsize=7)
        save_png(fig, path)
    data = table[["id", "space", column, "test_acc", "test_acc_std", "seeds"]].copy()
    return data.assign(test_acc_ci95_low=low / 100, test_acc_ci95_high=high / 100, uniform=uniform)


def search_trajectories(dataset: MacroDataset, space: str, path: Path, runs: int = 20,
                        budget: int | None = None) -> pd.DataFrame | None:
    """The best test accuracy found vs architectures queried, mean over `runs` seeds with a 10-90% band, for
    random search and regularised evolution over the space's results table; the exhaustive best as a line."""
    table = {_arch_key(row.arch): row.test_acc for row in dataset.table().itertuples(index=False)
             if row.space == space and row.test_acc == row.test_acc}
    if len(table) < 3:
        return None
    budget = budget or len(table)
    best = max(table.values())
    population = max(2, min(10, len(table) // 4))  # a population smaller than the table, or evolution is random
    searchers = {"random search": random_search,
                 "regularised evolution": lambda t, b, s: regularized_evolution(t, b, s, population=population)}
    rows = []
    with matplotlib.rc_context(FONT):
        fig = new_figure(9.0, 5.2)
        ax = fig.add_subplot()
        for (name, search), colour, style in zip(searchers.items(), ("#7f7f7f", "#1f77b4"), ("--", "-"), strict=True):
            curves = np.array([search(table, budget, seed) for seed in range(runs)]) * 100
            queried = np.arange(1, budget + 1)
            mean, low, high = curves.mean(0), np.percentile(curves, 10, 0), np.percentile(curves, 90, 0)
            ax.plot(queried, mean, style, color=colour, lw=1.8, label=f"{name}\n(mean of {runs} runs)")
            ax.fill_between(queried, low, high, color=colour, alpha=0.18, lw=0)
            found = (curves[:, -1] >= best * 100 - 1e-9).mean()
            rows += [{"search": name, "queried": int(q), "best_mean": m, "best_p10": lo, "best_p90": hi,
                      "found_optimum": found} for q, m, lo, hi in zip(queried, mean, low, high, strict=True)]
        ax.axhline(best * 100, color="black", lw=1.0, ls="--", label="exhaustive best")
        ax.set_xlabel("architectures queried")
        ax.set_ylabel("best test accuracy found, %")
        title(ax, f"Search over the trained {space} architectures ({len(table)})")
        grid(ax)
        legend_outside(ax, ax.get_legend_handles_labels()[0])
        Caption(fig, ["Each query looks an architecture up in the table of trained results (no training). Bands: 10th "
                      f"to 90th percentile over the runs. Regularised evolution: population {population}, tournament "
                      "of 3, one stage changed per mutation. On a table this small both reach the best quickly."]
                ).write()
        save_png(fig, path)
    return pd.DataFrame(rows)


def draw_macro(dataset: MacroDataset, out_dir: str | Path) -> list[Path]:
    """Every macro figure the dataset allows, PNG into out_dir and its data as CSV into out_dir/data."""
    out_dir = Path(out_dir)
    written = []
    if dataset.table()["test_acc"].notna().sum() == 0:
        return written
    for cost in ("flops", "params"):
        name = f"macro_accuracy_vs_{cost}"
        data = accuracy_vs_cost(dataset, cost, out_dir / f"{name}.png")
        written += [out_dir / f"{name}.png", save_csv(data, out_dir / "data" / f"{name}.csv")]
    for space in ("blox", "zoo"):
        name = f"macro_search_{space}"
        data = search_trajectories(dataset, space, out_dir / f"{name}.png")
        if data is not None:
            written += [out_dir / f"{name}.png", save_csv(data, out_dir / "data" / f"{name}.csv")]
    return written


def _arch_key(arch: str):
    stages = json.loads(arch)
    return tuple(json.dumps(stage) for stage in stages)
