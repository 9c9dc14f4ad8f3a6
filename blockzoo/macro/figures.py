"""Figures of the macro results: accuracy against FLOPs and parameters, both spaces and their Pareto fronts,
the uniform networks marked; and the search baselines' trajectories against the exhaustive best."""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from blockzoo.macro.dataset import MacroDataset
from blockzoo.macro.search import random_search, regularized_evolution
from blockzoo.report.labels import place_labels, step_vertices
from blockzoo.report.style import FONT, caption, maybe_log, new_figure, save_csv, save_png
from blockzoo.report.summary import DATASET_NAMES, pareto_front

SPACE_STYLE = {"blox": ("#1f77b4", "o", "BLOX space"), "zoo": ("#d95f02", "s", "zoo space (a block per stage)")}


def accuracy_vs_cost(dataset: MacroDataset, cost: str, path: Path, title_note: str = "") -> pd.DataFrame:
    """Mean test accuracy vs FLOPs or parameters, one point per architecture, a Pareto front per space."""
    column, label = {"flops": ("flops", "FLOPs per image, MFLOPs"), "params": ("params", "parameters, millions")}[cost]
    table = dataset.table().dropna(subset=[column, "test_acc"])
    uniform = set(dataset.uniform())
    with matplotlib.rc_context(FONT):
        fig = new_figure(11.0, 6.4)
        ax = fig.add_subplot()
        handles, labelled, fronts = [], [], []
        for space, (colour, marker, name) in SPACE_STYLE.items():
            part = table[table["space"] == space]
            if part.empty:
                continue
            x, y = part[column].to_numpy(float) / 1e6, part["test_acc"].to_numpy(float) * 100
            ax.scatter(x, y, c=colour, marker=marker, s=36, alpha=0.8, edgecolors="white", linewidths=0.5, zorder=3)
            is_uniform = part["id"].isin(uniform).to_numpy()
            ax.scatter(x[is_uniform], y[is_uniform], s=150, facecolors="none", edgecolors=colour, linewidths=1.4,
                       marker="*", zorder=4)
            front = pareto_front(np.column_stack([x, y]))
            order = np.argsort(x[front])
            ax.step(x[front][order], y[front][order], where="post", color=colour, lw=1.6, alpha=0.7, zorder=2)
            fronts.append(step_vertices(x[front][order], y[front][order]))
            labelled += [(xv, yv, ident) for xv, yv, ident, on in zip(x, y, part["id"], front | is_uniform, strict=True)
                         if on]
            handles.append(Line2D([], [], color=colour, marker=marker, lw=1.6, label=f"{name} ({len(part)}), front"))
        handles.append(Line2D([], [], color="#555555", marker="*", markerfacecolor="none", markersize=11, lw=0,
                              label="uniform: the same block / cell at every stage"))
        log = maybe_log(ax, "x", table[column] / 1e6)
        ax.set_xlabel(label + (" (log scale)" if log else ""))
        datasets = sorted(DATASET_NAMES.get(d, d) for d in dataset.frame["dataset"].dropna().unique())
        recipes = sorted(str(r) for r in dataset.frame["recipe"].dropna().unique())
        ax.set_ylabel(f"Test accuracy, % ({', '.join(datasets) or 'dataset not recorded'}; mean over seeds)")
        ax.set_title(f"Macro architectures: accuracy vs {'FLOPs' if cost == 'flops' else 'parameters'}{title_note}",
                     loc="left", fontweight="bold")
        ax.grid(True, color="#e5e5e5", lw=0.7)
        ax.set_axisbelow(True)
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, borderaxespad=0.0)
        caption(fig, ["Each point: one architecture (one block or BLOX cell per stage); the step lines are each "
                      "space's Pareto front (no other architecture of that space is cheaper and more accurate), its "
                      "points and the uniform ones labelled by id. Training recipe(s): "
                      + (", ".join(recipes) or "not recorded")
                      + ". FLOPs: one multiply-add or one elementwise op per output element = 1 FLOP, one image."])
        if labelled:
            xs, ys, texts = zip(*labelled, strict=True)
            points = np.column_stack([table[column].to_numpy(float) / 1e6, table["test_acc"].to_numpy(float) * 100])
            place_labels(fig, ax, np.array(xs), np.array(ys), list(texts), points, segments=fronts, fontsize=7)
        save_png(fig, path)
    return table[["id", "space", column, "test_acc", "test_acc_std", "seeds"]]


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
            ax.plot(queried, mean, style, color=colour, lw=1.8, label=f"{name} (mean of {runs} runs)")
            ax.fill_between(queried, low, high, color=colour, alpha=0.18, lw=0)
            found = (curves[:, -1] >= best * 100 - 1e-9).mean()
            rows += [{"search": name, "queried": int(q), "best_mean": m, "best_p10": lo, "best_p90": hi,
                      "found_optimum": found} for q, m, lo, hi in zip(queried, mean, low, high, strict=True)]
        ax.axhline(best * 100, color="black", lw=1.0, ls="--", label="exhaustive best")
        ax.set_xlabel("architectures queried")
        ax.set_ylabel("best test accuracy found, %")
        ax.set_title(f"Search over the trained {space} architectures ({len(table)})", loc="left", fontweight="bold")
        ax.grid(True, color="#e5e5e5", lw=0.7)
        ax.legend(loc="lower right", frameon=False)
        caption(fig, ["Each query looks an architecture up in the table of trained results (no training). Bands: 10th "
                      f"to 90th percentile over the runs. Regularised evolution: population {population}, tournament "
                      "of 3, one stage changed per mutation. On a table this small both reach the best quickly."])
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
