"""The dynamic results of a run: their table, their leaderboard entries and their figures.

"FLOPs saved at equal accuracy" for a cell is the largest saving (1 - dynamic / static FLOPs per image, the
policy's cost included) of its runs whose test accuracy is within EQUAL_ACCURACY of the static network's
(the cell's own training run, same seed).
"""
from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from blockzoo.names import BASELINE_BLOCK as BASELINE
from blockzoo.report import marks
from blockzoo.report.labels import place_labels
from blockzoo.report.style import (
    FONT,
    Caption,
    block_colours,
    grid,
    header,
    legend_outside,
    new_figure,
    save_csv,
    save_png,
    si_axis,
    si_text,
    title,
)

EQUAL_ACCURACY = 0.005  # half a point of test accuracy


def dynamic_table(records: list[dict], static_acc: dict[tuple[str, int], float]) -> pd.DataFrame:
    """One row per dynamic run (cell, seed, gamma), with the static network's test accuracy and the saving."""
    rows = []
    for record in records:
        d = record["dynamic"]
        static = static_acc.get((record["cell"], record["seed"]))
        rows.append({
            "cell": record["cell"], "block": record.get("block"), "position": record.get("position"),
            "seed": record["seed"], "gamma": d["gamma"], "test_acc": d["test_acc"], "static_test_acc": static,
            "blocks_used": d["blocks_used_mean"], "blocks_used_std": d["blocks_used_std"], "k": d["blocks_droppable"],
            "flops": d["flops_per_image_with_policy_mean"], "flops_static": d["flops_static"],
            "flops_saved": 1 - d["flops_per_image_with_policy_mean"] / d["flops_static"],
            "latency_ms": d["latency_ms"], "latency_static_ms": d["latency_static_ms"],
            "distinct_policies": d["distinct_policies"], "drop_rates": d["drop_rates"],
            "droppable": d["droppable"],
            "flops_blockdrop": d.get("flops_blockdrop_per_image_with_policy_mean"),
            "flops_blockdrop_static": d.get("flops_blockdrop_static"),
            "flops_policy": d["flops_policy"], "break_even": d.get("break_even"),
            "selected_epoch": d.get("best_epoch"), "selected_stage": d.get("selected_stage"),
            "accuracy_warning": d.get("accuracy_warning") or "",
        })
    return pd.DataFrame(rows)


def read_table(path: Path) -> pd.DataFrame:
    """results/dynamic.csv as the aggregate stage wrote it: an empty accuracy_warning stays "" (pandas reads an
    empty field as NaN, which json.dump writes as the invalid NaN)."""
    return pd.read_csv(path).fillna({"accuracy_warning": ""})


def leaderboard_entries(table: pd.DataFrame) -> dict:
    """Per cell: which blocks were droppable, each gamma's result, and the FLOPs saved at equal accuracy."""
    entries = {}
    for cell, runs in table.groupby("cell", sort=True):
        equal = runs[runs["test_acc"] >= runs["static_test_acc"] - EQUAL_ACCURACY]
        entries[cell] = {
            "droppable": runs["droppable"].iloc[0], "blocks_droppable": int(runs["k"].iloc[0]),
            "flops_saved_at_equal_accuracy": float(equal["flops_saved"].max()) if len(equal) else None,
            "runs": {f"seed {int(r.seed)}, gamma {r.gamma:g}": {
                "test_acc": r.test_acc, "static_test_acc": r.static_test_acc, "blocks_used": r.blocks_used,
                "flops_saved": r.flops_saved, "latency_ms": r.latency_ms, "latency_static_ms": r.latency_static_ms,
                "flops": r.flops, "flops_static": r.flops_static, "flops_blockdrop": r.flops_blockdrop,
                "flops_blockdrop_static": r.flops_blockdrop_static, "break_even": r.break_even,
                "distinct_policies": r.distinct_policies, "selected_epoch": r.selected_epoch,
                "selected_stage": r.selected_stage, "accuracy_warning": r.accuracy_warning,
            } for r in runs.itertuples(index=False)},
        }
    return entries


def accuracy_vs_flops(table: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Test accuracy vs FLOPs per image: each cell's static network (hollow) and its dynamic runs, one per gamma,
    joined in order of FLOPs, the static one last (the policy's trade-off); each run labelled with its gamma,
    blocks used and distinct policies. Axes from the bulk of the runs; a run far off (e.g. at chance) is drawn
    at the edge with its value."""
    colours = block_colours(sorted({str(b) for b in table["block"]}))
    cells = sorted(table["cell"].unique(), key=lambda c: (c != BASELINE, c))
    static = table.groupby("cell").agg(flops=("flops_static", "first"), acc=("static_test_acc", "mean"))
    xs = np.concatenate([table["flops"].to_numpy(float), static["flops"].to_numpy(float)])
    ys = np.concatenate([table["test_acc"].to_numpy(float), static["acc"].to_numpy(float)]) * 100
    with matplotlib.rc_context(FONT):
        fig = new_figure(11.0, 6.6)
        ax = fig.add_subplot()
        x_bulk, y_bulk = marks.bulk(xs), marks.bulk(ys, min_span=2.0)
        x_bulk.apply(ax, "x")
        y_bulk.apply(ax, "y")
        si_axis(ax, "x", xs)

        handles, labelled, points, joins, edges = [header("Cell (colour)")], [], [], [], []

        def label(x: float, y: float, true_x: float, true_y: float, text: str, always: bool = True) -> None:
            """Label a point; one drawn at an edge gets its true value first ('▼ 10.0%: ...')."""
            value = marks.edge_value(x_bulk, y_bulk, true_x, true_y, lambda v: f"{si_text(v)} FLOPs",
                                     lambda v: f"{v:.1f}%")
            if value:
                edges.append((x, y, f"{value}: {text}"))
            if value or always:
                labelled.append((x, y, f"{value}: {text}" if value else text))

        for cell in cells:
            runs = table[table["cell"] == cell].sort_values("flops")
            colour = colours[str(runs["block"].iloc[0])]
            rx, ry = x_bulk.shown(runs["flops"].to_numpy(float)), y_bulk.shown(runs["test_acc"].to_numpy(float) * 100)
            sx, sy = (float(v) for v in (x_bulk.shown([static.loc[cell, "flops"]])[0],
                                         y_bulk.shown([static.loc[cell, "acc"] * 100])[0]))
            ax.plot([*rx, sx], [*ry, sy], "-", color=colour, lw=1.2, alpha=0.6, zorder=2)  # in order of FLOPs
            joins.append(np.column_stack([[*rx, sx], [*ry, sy]]))
            for r, x, y in zip(runs.itertuples(index=False), rx, ry, strict=True):
                ax.plot(x, y, "o", color=colour, ms=7, markeredgecolor="white", markeredgewidth=0.6, zorder=3,
                        gid=f"run:{cell} γ={r.gamma:g} s{int(r.seed)}")
                label(x, y, r.flops, r.test_acc * 100, f"γ={r.gamma:g}: {r.blocks_used:.1f}/{int(r.k)} blocks, "
                      f"{int(r.distinct_policies)} {'policy' if r.distinct_policies == 1 else 'policies'}")
            label(sx, sy, static.loc[cell, "flops"], static.loc[cell, "acc"] * 100, f"{cell}, static", always=False)
            ax.plot(sx, sy, "o", ms=10, markerfacecolor="white", markeredgecolor=colour, markeredgewidth=1.6,
                    zorder=3, gid=f"static:{cell}")
            points += [(sx, sy), *zip(rx, ry, strict=True)]
            handles.append(Line2D([], [], color=colour, marker="o", linestyle="", markersize=6.5,
                                  label=cell + (" (baseline)" if cell == BASELINE else "")))
        handles += [header(""), header("Network (marker)"),
                    Line2D([], [], color="#555555", marker="o", linestyle="", markersize=6.5,
                           label="dynamic (one gamma)"),
                    Line2D([], [], color="#555555", marker="o", linestyle="", markersize=8, markerfacecolor="white",
                           markeredgewidth=1.4, label="static (every block)")]
        handles += [marks.edge_legend()] if edges else []
        ax.set_xlabel("FLOPs per image (dynamic: test-set mean, the policy's cost included; blockzoo's counter, "
                      "1 multiply-add = 1 FLOP)")
        ax.set_ylabel("Test accuracy, % (one seed per run)")
        title(ax, "Dynamic inference (BlockDrop): test accuracy vs FLOPs per image")
        grid(ax)
        legend_outside(ax, handles)
        lines = ["Filled points: the greedy policy of one run (one gamma), blocks really skipped, labelled with the "
                 "blocks it used per image (mean, of K droppable) and the number of distinct keep/drop vectors it "
                 "chose over the test set (1: a static pruning, not a per-image policy). Hollow: the same cell's "
                 "static network (all blocks; its training run). A line joins a cell's runs in order of FLOPs, then "
                 "its static network. Each run is one seed: no interval."]
        Caption(fig, lines + marks.edge_line(edges, "runs")).write()
        if labelled:
            lx, ly, texts = zip(*labelled, strict=True)
            place_labels(fig, ax, np.array(lx), np.array(ly), list(texts), np.array(points, dtype=float),
                         segments=joins)
        save_png(fig, path)
    return table[["cell", "seed", "gamma", "flops", "test_acc", "flops_static", "static_test_acc", "blocks_used",
                  "distinct_policies"]]


def drop_rates(table: pd.DataFrame, path: Path) -> pd.DataFrame:
    """A heat map: how often each block index is dropped, one row per run."""
    rows = []
    for r in table.sort_values(["cell", "gamma"]).itertuples(index=False):
        rates = dict(item.rsplit(":", 1) for item in r.drop_rates.split(";") if item)
        rows.append({"run": f"{r.cell} γ={r.gamma:g} s{int(r.seed)}", **{k: float(v) for k, v in rates.items()}})
    frame = pd.DataFrame(rows).set_index("run")
    order = sorted(frame.columns, key=lambda name: (("early", "mid", "late").index(name.split(".")[0]),
                                                    int(name.split(".")[1])))
    frame = frame[order]
    label_width = 0.065 * max(len(name) for name in frame.index)  # inches of the run labels at this font
    with matplotlib.rc_context(FONT):
        fig = new_figure(max(7.5, 2.4 + label_width + 0.5 * len(order)), max(3.6, 1.9 + 0.4 * len(frame)))
        ax = fig.add_subplot()
        image = ax.imshow(frame.to_numpy(dtype=float), vmin=0, vmax=1, cmap="magma_r", aspect="auto",
                          gid="drop_rates")
        ax.set_xticks(range(len(order)), order, rotation=45, ha="right")
        ax.set_yticks(range(len(frame)), frame.index)
        for (i, j), value in np.ndenumerate(frame.to_numpy(dtype=float)):
            if value == value:
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if value > 0.5 else "black")
        fig.colorbar(image, ax=ax, label="share of test images\nthat skip the block", shrink=0.9)
        ax.spines[:].set_visible(False)
        title(ax, "How often each block is dropped, per run")
        Caption(fig, ["Blocks by stage and index (columns); one row per run (cell, gamma, seed). 0: always run, 1: "
                      "always skipped: a block at 0 or 1 is decided for every image alike, a static pruning. Blank: "
                      "not droppable (no separable shortcut), unless the run used the parameter-free fallback."]
                ).write()
        save_png(fig, path)
    return frame.reset_index()


def draw_dynamic(table: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    out_dir = Path(out_dir)
    written = []
    for name, draw in (("dynamic_accuracy_vs_flops", accuracy_vs_flops), ("dynamic_drop_rates", drop_rates)):
        data = draw(table, out_dir / f"{name}.png")
        written += [out_dir / f"{name}.png", save_csv(data, out_dir / "data" / f"{name}.csv")]
    return written
