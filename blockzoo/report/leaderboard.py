"""The leaderboard: per block and position, accuracy over seeds with cost figures.

Two forms of it: `leaderboard_table`, every column per cell (results/leaderboard.csv), and
`build_leaderboard`, a few headline numbers per cell (metrics/leaderboard.json), small enough for
`dvc metrics show` and `dvc exp show` to print readably. `noise_check` is how much the benchmark's
latency varies: the baseline network is the same network at every position.
"""
from __future__ import annotations

import pandas as pd

from blockzoo.names import BASELINE_BLOCK
from blockzoo.report.summary import DEFAULT_LATENCY, numeric, summarize

COST_COLUMNS = {
    "params": "profile.params_total",
    "params_deploy": "profile.params_total_deploy",
    "flops": "profile.flops_total",
    "flops_deploy": "profile.flops_total_deploy",
    "latency_b1_ms": "benchmark.latency_b1_ms",
    "latency_b1_ms_p10": "benchmark.latency_b1_ms_p10",
    "latency_b1_ms_p90": "benchmark.latency_b1_ms_p90",
    "latency_ms": "benchmark.latency_ms",
    "latency_ms_p10": "benchmark.latency_ms_p10",
    "latency_ms_p90": "benchmark.latency_ms_p90",
    "throughput": "benchmark.throughput",
    "busy": "benchmark.busy",
}
# The headline of a cell in metrics/leaderboard.json and the digits kept: costs in the deploy form,
# latency at batch 1 (what the figures show).
HEADLINE = {"test_acc_mean": 4, "test_acc_std": 4, "latency_b1_ms": 2, "mflops": 1, "params_m": 3, "rank": 0}


def leaderboard_table(frame) -> pd.DataFrame:
    """One row per block@position of a results frame (results.read_results), every column.

    Accuracy: test/val accuracy mean and std over the seeds that completed (blockzoo.report.summary: the one
    definition of a cell's accuracy), seed counts; the cost columns; mflops and params_m (deploy form where
    measured); and the rank by test accuracy (equal accuracies share a rank: the baseline network is the same
    at every position).
    """
    summary = summarize(frame)
    rows = []
    for row in summary.cells.itertuples(index=False):
        rows_of_cell = frame[(frame["block"] == row.block) & (frame["position"] == row.position)]
        costs = {name: _first(rows_of_cell, column) for name, column in COST_COLUMNS.items()}
        rows.append({
            "cell": row.cell, "block": row.block, "position": row.position,
            "seeds_completed": int(row.n_seeds), "seeds_diverged": int(row.n_diverged),
            "test_acc_mean": row.test_acc, "test_acc_std": row.test_acc_std, "val_acc_mean": row.val_acc,
            "mflops": _deploy_or_train(costs, "flops") / 1e6, "params_m": _deploy_or_train(costs, "params") / 1e6,
            **costs,
        })
    table = pd.DataFrame(rows, columns=["cell", "block", "position", "seeds_completed", "seeds_diverged",
                                        "test_acc_mean", "test_acc_std", "val_acc_mean", "mflops", "params_m",
                                        *COST_COLUMNS])
    table.insert(3, "rank", table["test_acc_mean"].rank(method="min", ascending=False).astype("Int64"))
    return table


def build_leaderboard(table: pd.DataFrame, check: dict | None) -> dict:
    """The leaderboard dict from leaderboard_table() and noise_check(): the training runs completed (the baseline
    network's once per seed), the headline numbers per cell, per block and the noise check.

    blocks: per block, accuracy averaged over positions and the position sensitivity: the spread
    (max - min, in accuracy points) over positions of the block's gain over the baseline at the same
    position. Subtracting the baseline removes how hard each position is to change; the baseline's own
    value is therefore 0. Without a baseline row the raw accuracy spread is used.
    """
    cells = {row["cell"]: _headline(row) for row in table.to_dict("records")}
    baseline = table["block"] == BASELINE_BLOCK  # one network at every position: its runs are counted once
    board = {
        "trained_runs": int(table.loc[~baseline, "seeds_completed"].sum())
        + int(table.loc[baseline, "seeds_completed"].max() if baseline.any() else 0),
        "cells": cells,
        "blocks": _block_summaries(table),
    }
    if check is not None:
        board["noise_check"] = {"measurements": check["measurements"],
                                "spread_pct": _rounded(check["spread_pct"], 1)}
    return board


def _headline(row: dict) -> dict:
    """A cell's headline numbers; a latency timed on a busy machine is not one of them (it would be ranked beside
    quiet ones): it is kept apart as latency_b1_ms_busy until `make retime` times it again."""
    cell = {name: _rounded(row[name], digits) for name, digits in HEADLINE.items()}
    if str(row.get("busy")).strip().lower() in ("true", "1"):
        cell["latency_b1_ms_busy"], cell["latency_b1_ms"] = cell["latency_b1_ms"], None
    return cell


def noise_check(frame, latency_column: str = DEFAULT_LATENCY) -> dict | None:
    """The spread of the baseline network's latency over the positions it stands at (None without it).

    The baseline network is the same at every position, so differing latencies there are the benchmark's
    noise: spread_pct = (max - min) / min. Equal values are one measurement copied to each position; then
    the spread is that measurement's own p10-p90 range over its median (None where not recorded).
    """
    rows = frame[frame["block"] == BASELINE_BLOCK]
    latency = numeric(rows, latency_column).groupby(rows["position"].to_numpy()).median().dropna()
    latency = latency[latency > 0]
    if latency.empty:
        return None
    low, high, measurements = float(latency.min()), float(latency.max()), int(latency.nunique())
    check = {"column": latency_column, "measurements": measurements, "latency_min_ms": low, "latency_max_ms": high,
             "spread_pct": (high - low) / low * 100}
    if measurements == 1:
        p10, p90 = (_rounded(numeric(rows, f"{latency_column}_{q}").median(), 6) for q in ("p10", "p90"))
        spread = None if p10 is None or p90 is None else (p90 - p10) / low * 100
        check.update(p10_ms=p10, p90_ms=p90, spread_pct=spread)
    return check


def noise_line(check: dict) -> str:
    """The noise check in one line, e.g. 'noise check: the baseline network measured 3 times: ...'."""
    what = check["column"].removeprefix("benchmark.")
    if check["measurements"] > 1:
        return (f"noise check: the baseline network measured {check['measurements']} times ({what}): latency "
                f"{check['latency_min_ms']:.3g}-{check['latency_max_ms']:.3g} ms (spread {check['spread_pct']:.1f}%)")
    line = f"noise check: the baseline network measured once ({what}): latency {check['latency_min_ms']:.3g} ms"
    if check["spread_pct"] is not None:
        line += (f", its timings' p10-p90 {check['p10_ms']:.3g}-{check['p90_ms']:.3g} ms "
                 f"(spread {check['spread_pct']:.1f}%)")
    return line + "; measure it at each position to see the noise between runs"


def _block_summaries(table: pd.DataFrame) -> dict:
    accuracy = {(r["block"], r["position"]): _rounded(r["test_acc_mean"], 8) for r in table.to_dict("records")}
    baseline = {p: a for (b, p), a in accuracy.items() if b == BASELINE_BLOCK}
    summaries = {}
    for block in dict.fromkeys(b for b, _ in accuracy):
        accuracies = {p: a for (b, p), a in accuracy.items() if b == block and a is not None}
        if not accuracies:
            summaries[block] = {"test_acc_mean": None, "best_position": None, "position_sensitivity": None}
            continue
        if all(baseline.get(p) is not None for p in accuracies):
            scores = [a - baseline[p] for p, a in accuracies.items()]
        else:
            scores = list(accuracies.values())
        summaries[block] = {
            "test_acc_mean": round(sum(accuracies.values()) / len(accuracies), 4),
            "best_position": max(accuracies, key=accuracies.get),
            "position_sensitivity": round((max(scores) - min(scores)) * 100, 2) if len(scores) > 1 else None,
        }
    return summaries


def _deploy_or_train(costs: dict, kind: str) -> float:
    value = costs[f"{kind}_deploy"] if costs[f"{kind}_deploy"] is not None else costs[kind]
    return float("nan") if value is None else float(value)


def _rounded(value, digits: int):
    if value is None or pd.isna(value):
        return None
    return int(value) if digits == 0 else round(float(value), digits)


def _first(rows, column: str):
    if column not in rows:
        return None
    values = rows[column].dropna()
    if values.empty:
        return None
    value = values.iloc[0]
    return value.item() if hasattr(value, "item") else value
