"""The leaderboard: per block and position, accuracy over seeds with cost figures."""
from __future__ import annotations

import math

from blockzoo.names import BASELINE_BLOCK

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

    cells: one entry per block@position: test/val accuracy mean and std over completed seeds,
    seed counts, and the cost columns. blocks: per block, accuracy averaged over positions and the
    position sensitivity: the spread (max - min, in accuracy points) over positions of the block's
    gain over the baseline at the same position. Subtracting the baseline removes how hard each
    position is to change; the baseline's own value is therefore 0. Without a baseline row the raw
    accuracy spread is used.
    """
    cells = {}
    for (block, position), rows in frame.groupby(["block", "position"], sort=False):
        cells[f"{block}@{position}"] = _cell_summary(block, position, rows)
    ranking = sorted(
        (name for name, cell in cells.items() if cell["test_acc_mean"] is not None),
        key=lambda name: -cells[name]["test_acc_mean"],
    )
    for rank, name in enumerate(ranking, start=1):
        cells[name]["rank"] = rank
    return {
        "trained_runs": int(sum(cell["seeds_completed"] for cell in cells.values())),
        "cells": cells,
        "blocks": _block_summaries(cells),
    }


def _cell_summary(block: str, position: str, rows) -> dict:
    completed = rows[rows["train.status"] == "completed"] if "train.status" in rows else rows.iloc[0:0]
    diverged = int((rows["train.status"] == "diverged").sum()) if "train.status" in rows else 0
    summary = {
        "block": block,
        "position": position,
        "seeds_completed": int(len(completed)),
        "seeds_diverged": diverged,
        "test_acc_mean": _mean(completed, "train.test_acc"),
        "test_acc_std": _std(completed, "train.test_acc"),
        "val_acc_mean": _mean(completed, "train.val_acc"),
    }
    for name, column in COST_COLUMNS.items():
        summary[name] = _first(rows, column)
    return summary


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


def _values(rows, column: str) -> list[float]:
    if column not in rows:
        return []
    return [float(v) for v in rows[column] if v is not None and not (isinstance(v, float) and math.isnan(v))]


def _mean(rows, column: str) -> float | None:
    values = _values(rows, column)
    return sum(values) / len(values) if values else None


def _std(rows, column: str) -> float | None:
    """Sample standard deviation over seeds (n - 1); None with fewer than two seeds."""
    values = _values(rows, column)
    if len(values) < 2:
        return None
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def _first(rows, column: str):
    if column not in rows:
        return None
    values = rows[column].dropna()
    if values.empty:
        return None
    value = values.iloc[0]
    return float(value) if isinstance(value, float) else int(value)
