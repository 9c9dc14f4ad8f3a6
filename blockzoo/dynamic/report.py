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

from blockzoo.report.style import FONT, block_colours, caption, new_figure, save_csv, save_png

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
        })
    return pd.DataFrame(rows)


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
            } for r in runs.itertuples(index=False)},
        }
    return entries


def accuracy_vs_flops(table: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Test accuracy vs FLOPs per image: each cell's static network (hollow) and its dynamic runs, one per gamma,
    joined in order of FLOPs: the policy's frontier."""
    colours = block_colours(sorted({str(b) for b in table["block"]}))
    with matplotlib.rc_context(FONT):
        fig = new_figure(10.0, 6.0)
        ax = fig.add_subplot()
        for cell, runs in table.groupby("cell", sort=True):
            runs = runs.sort_values("flops")
            colour = colours[str(runs["block"].iloc[0])]
            ax.plot(runs["flops"] / 1e6, runs["test_acc"] * 100, "-o", color=colour, ms=5, lw=1.3, label=cell)
            ax.plot(runs["flops_static"].iloc[0] / 1e6, runs["static_test_acc"].mean() * 100, "o", ms=9,
                    markerfacecolor="none", markeredgecolor=colour, markeredgewidth=1.5)
            for r in runs.itertuples(index=False):
                ax.annotate(f"γ={r.gamma:g}", (r.flops / 1e6, r.test_acc * 100), textcoords="offset points",
                            xytext=(4, 4), fontsize=7, color="#444444")
        ax.set_xlabel("FLOPs per image, MFLOPs (dynamic: mean over the test set, the policy included)")
        ax.set_ylabel("Test accuracy, %")
        ax.set_title("Dynamic inference (BlockDrop): accuracy vs FLOPs per image", loc="left", fontweight="bold")
        ax.grid(True, color="#e5e5e5", lw=0.7)
        ax.legend(title="cell (hollow: static network)", loc="lower right", frameon=False)
        caption(fig, ["Filled points: the greedy policy of one run (one gamma), blocks really skipped; a line joins a "
                      "cell's runs. Hollow: the same cell's static network (all blocks, its training run). FLOPs by "
                      "the profile's counter."])
        save_png(fig, path)
    return table[["cell", "seed", "gamma", "flops", "test_acc", "flops_static", "static_test_acc", "blocks_used"]]


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
    with matplotlib.rc_context(FONT):
        fig = new_figure(max(6.0, 1.6 + 0.55 * len(order)), max(3.0, 1.4 + 0.38 * len(frame)))
        ax = fig.add_subplot()
        image = ax.imshow(frame.to_numpy(dtype=float), vmin=0, vmax=1, cmap="magma_r", aspect="auto")
        ax.set_xticks(range(len(order)), order, rotation=45, ha="right")
        ax.set_yticks(range(len(frame)), frame.index)
        for (i, j), value in np.ndenumerate(frame.to_numpy(dtype=float)):
            if value == value:
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if value > 0.5 else "black")
        fig.colorbar(image, ax=ax, label="fraction of test images that skip the block")
        ax.set_title("How often each block is dropped (blank: not droppable)", loc="left", fontweight="bold")
        caption(fig, ["Blocks by stage and index; a block without a separable shortcut is never dropped (blank), "
                      "unless the run used the parameter-free fallback."])
        save_png(fig, path)
    return frame.reset_index()


def draw_dynamic(table: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    out_dir = Path(out_dir)
    written = []
    for name, draw in (("dynamic_accuracy_vs_flops", accuracy_vs_flops), ("dynamic_drop_rates", drop_rates)):
        data = draw(table, out_dir / f"{name}.png")
        written += [out_dir / f"{name}.png", save_csv(data, out_dir / "data" / f"{name}.csv")]
    return written
