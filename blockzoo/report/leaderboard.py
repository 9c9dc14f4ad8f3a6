"""The leaderboard: per block and position, accuracy over seeds with cost figures."""
from __future__ import annotations

from blockzoo.names import BASELINE_BLOCK
from blockzoo.report.summary import summarize

COST_COLUMNS = {
    "params": "profile.params_total",
    "params_deploy": "profile.params_total_deploy",
    "flops": "profile.flops_total",
    "flops_deploy": "profile.flops_total_deploy",
    "latency_b1_ms": "benchmark.latency_b1_ms",
    "latency_ms": "benchmark.latency_ms",
    "throughput": "benchmark.throughput",
}


def build_leaderboard(frame) -> dict:
    """Summarise a results frame (results.read_results) into the leaderboard dict.

    cells: one entry per block@position: test/val accuracy mean and std over the seeds that completed
    (blockzoo.report.summary: the one definition of a cell's accuracy), seed counts, the cost columns
    and the rank (equal accuracies share a rank: the baseline network is the same at every position).
    blocks: per block, accuracy averaged over positions and the position sensitivity: the spread
    (max - min, in accuracy points) over positions of the block's gain over the baseline at the same
    position. Subtracting the baseline removes how hard each position is to change; the baseline's own
    value is therefore 0. Without a baseline row the raw accuracy spread is used.
    """
    summary = summarize(frame)
    cells = {}
    for row in summary.cells.itertuples(index=False):
        rows = frame[(frame["block"] == row.block) & (frame["position"] == row.position)]
        cells[row.cell] = {
            "block": row.block,
            "position": row.position,
            "seeds_completed": int(row.n_seeds),
            "seeds_diverged": int(row.n_diverged),
            "test_acc_mean": _number(row.test_acc),
            "test_acc_std": _number(row.test_acc_std),
            "val_acc_mean": _number(row.val_acc),
            **{name: _first(rows, column) for name, column in COST_COLUMNS.items()},
        }
    ranked = sorted((cell["test_acc_mean"], name) for name, cell in cells.items() if cell["test_acc_mean"] is not None)
    for _name, cell in cells.items():
        if cell["test_acc_mean"] is not None:
            cell["rank"] = 1 + sum(acc > cell["test_acc_mean"] for acc, _ in ranked)
    return {
        "trained_runs": int(sum(cell["seeds_completed"] for cell in cells.values())),
        "cells": cells,
        "blocks": _block_summaries(cells),
    }


def _block_summaries(cells: dict) -> dict:
    baseline = {cell["position"]: cell["test_acc_mean"] for cell in cells.values() if cell["block"] == BASELINE_BLOCK}
    blocks: dict[str, dict] = {}
    for cell in cells.values():
        blocks.setdefault(cell["block"], {})[cell["position"]] = cell["test_acc_mean"]
    summaries = {}
    for block, by_position in blocks.items():
        accuracies = {p: a for p, a in by_position.items() if a is not None}
        if not accuracies:
            summaries[block] = {"test_acc_mean": None, "best_position": None, "position_sensitivity": None}
            continue
        if all(baseline.get(p) is not None for p in accuracies):
            scores = [a - baseline[p] for p, a in accuracies.items()]
        else:
            scores = list(accuracies.values())
        summaries[block] = {
            "test_acc_mean": sum(accuracies.values()) / len(accuracies),
            "best_position": max(accuracies, key=accuracies.get),
            "position_sensitivity": (max(scores) - min(scores)) * 100 if len(scores) > 1 else None,
        }
    return summaries


def _number(value) -> float | None:
    return None if value is None or value != value else float(value)


def _first(rows, column: str):
    if column not in rows:
        return None
    values = rows[column].dropna()
    if values.empty:
        return None
    value = values.iloc[0]
    return float(value) if isinstance(value, float) else int(value)
