"""The leaderboard: per block and position, accuracy over seeds with cost figures.

Two forms of it: `leaderboard_table`, every column per cell (results/leaderboard.csv), the statistics among
them (blockzoo.report.stats), and `build_leaderboard`, the headline numbers per cell and block
(metrics/leaderboard.json; blockzoo.report.metrics turns it into the small files DVC tracks as metrics).
`noise_check` is how much the benchmark's latency varies: the baseline network is the same network at every position.
"""
from __future__ import annotations

import math

import pandas as pd

from blockzoo.names import BASELINE_BLOCK
from blockzoo.report import stats
from blockzoo.report.summary import DEFAULT_LATENCY, numeric, seed_accuracies, summarize

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
# The headline of a cell in metrics/leaderboard.json and the digits kept (None: not a number): costs in the
# deploy form, latency at batch 1 (what the figures show).
HEADLINE = {"test_acc_mean": 4, "test_acc_std": 4, "test_acc_ci95_low": 4, "test_acc_ci95_high": 4,
            "diff_vs_baseline": 4, "p_value": 4, "verdict": None, "rank_best": 0, "rank_worst": 0,
            "still_improving": None, "latency_b1_ms": 2, "mflops": 1, "params_m": 3}
STATS_COLUMNS = ["test_acc_ci95_low", "test_acc_ci95_high", "diff_vs_baseline", "diff_ci95_low", "diff_ci95_high",
                 "p_value", "verdict", "rank_best", "rank_worst", "still_improving"]


def leaderboard_table(frame, curves: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per cell (block at a position) of a results frame (results.read_results), every column.

    Accuracy: test/val accuracy mean and std over the seeds that completed (blockzoo.report.summary: the one
    definition of a cell's accuracy), seed counts; the cost columns; mflops and params_m (deploy form where
    measured); and the statistics (STATS_COLUMNS, see statistics()). `curves`: the per-epoch table
    (blockzoo.report.curves.curves_table) that still_improving is read from; without it still_improving is False.
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
    columns = statistics(table, seed_accuracies(frame), _val_curves(curves))
    return pd.concat([table.iloc[:, :8], pd.DataFrame(columns, columns=STATS_COLUMNS), table.iloc[:, 8:]], axis=1)


def statistics(table: pd.DataFrame, accuracies: dict, curves: dict) -> list[dict]:
    """The STATS_COLUMNS of each row of `table` (blockzoo.report.stats does the arithmetic; docs/statistics.md).

    accuracies: {(block, position): {seed: test accuracy}}; curves: {(block, position): {seed: val_acc per epoch}}.
    Interval: 95% Student-t of the mean over seeds. Against the baseline at the same position: paired t over the
    shared seeds (same seed, same data order), else Welch; verdicts after Holm's correction over every
    comparison in the table. Rank range: from the intervals (stats.rank_ranges), over the rows with accuracy.
    """
    baseline_at = {p: accuracies.get((b, p), {}) for b, p in zip(table["block"], table["position"], strict=True)
                   if b == BASELINE_BLOCK}
    rows, comparisons, intervals = [], {}, {}
    for index, (block, position) in enumerate(zip(table["block"], table["position"], strict=True)):
        seeds = accuracies.get((block, position), {})
        low, high = stats.mean_interval(seeds.values())
        row = dict.fromkeys(STATS_COLUMNS, math.nan) | {"test_acc_ci95_low": low, "test_acc_ci95_high": high}
        if seeds:
            intervals[index] = (low, high) if low == low else (-math.inf, math.inf)
        if block == BASELINE_BLOCK:
            row.update(diff_vs_baseline=0.0, verdict="baseline")
        elif seeds and baseline_at.get(position):
            comparisons[index] = stats.compare(seeds, baseline_at[position])
            found = comparisons[index]
            row.update(diff_vs_baseline=found["diff"], diff_ci95_low=found["low"], diff_ci95_high=found["high"],
                       p_value=found["p"])
        else:
            row["verdict"] = None
        row["still_improving"] = stats.still_improving(curves.get((block, position), {}))[0]
        rows.append(row)
    for index, verdict in stats.verdicts(comparisons).items():
        rows[index]["verdict"] = verdict
    for index, (best, worst) in stats.rank_ranges(intervals).items():
        rows[index].update(rank_best=best, rank_worst=worst)
    for row in rows:
        for name in ("rank_best", "rank_worst"):
            row[name] = pd.NA if row[name] != row[name] else int(row[name])
    return rows


def rank_range(best, worst) -> str:
    """A rank range as tables print it: "3" or "3-9"; "" without a rank."""
    if best is None or pd.isna(best):
        return ""
    return str(int(best)) if int(best) == int(worst) else f"{int(best)}-{int(worst)}"


def _val_curves(curves: pd.DataFrame | None) -> dict:
    if curves is None or not len(curves) or "val_acc" not in curves:
        return {}
    out: dict = {}
    for (block, position, seed), group in curves.sort_values("epoch").groupby(["block", "position", "seed"]):
        out.setdefault((str(block), str(position)), {})[int(seed)] = [float(v) for v in group["val_acc"].dropna()]
    return out


def build_leaderboard(table: pd.DataFrame, check: dict | None, accuracies: dict | None = None) -> dict:
    """The leaderboard dict from leaderboard_table() and noise_check(): the training runs completed (the baseline
    network's once per seed), the headline numbers per cell, per block and the noise check.

    blocks: per block, accuracy averaged over positions and the position sensitivity: the spread
    (max - min, in accuracy points) over positions of the block's gain over the baseline at the same
    position. Subtracting the baseline removes how hard each position is to change; the baseline's own
    value is therefore 0. Without a baseline row the raw accuracy spread is used. With `accuracies`
    (summary.seed_accuracies of the frame) the sensitivity gets its 95% interval: that of the difference between
    the block's best and worst positions (stats.compare, paired over seeds), shifted by the baseline's own
    difference there (0 for the one baseline network). It is the interval of that pair's difference, chosen
    after seeing the data, so it is optimistic about the lower bound being above 0.
    """
    cells = {row["cell"]: _headline(row) for row in table.to_dict("records")}
    baseline = table["block"] == BASELINE_BLOCK  # one network at every position: its runs are counted once
    board = {
        "trained_runs": int(table.loc[~baseline, "seeds_completed"].sum())
        + int(table.loc[baseline, "seeds_completed"].max() if baseline.any() else 0),
        "cells": cells,
        "blocks": _block_summaries(table, accuracies or {}),
    }
    if check is not None:
        board["noise_check"] = {"measurements": check["measurements"],
                                "spread_pct": _rounded(check["spread_pct"], 1)}
    return board


def _headline(row: dict) -> dict:
    """A cell's headline numbers; a latency timed on a busy machine is not one of them (it would be ranked beside
    quiet ones): it is kept apart as latency_b1_ms_busy until `make retime` times it again."""
    cell = {name: _rounded(row[name], digits) if digits is not None else _plain(row[name])
            for name, digits in HEADLINE.items()}
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


def _block_summaries(table: pd.DataFrame, seeds: dict) -> dict:
    accuracy = {(r["block"], r["position"]): _rounded(r["test_acc_mean"], 8) for r in table.to_dict("records")}
    baseline = {p: a for (b, p), a in accuracy.items() if b == BASELINE_BLOCK}
    summaries = {}
    for block in dict.fromkeys(b for b, _ in accuracy):
        accuracies = {p: a for (b, p), a in accuracy.items() if b == block and a is not None}
        if not accuracies:
            summaries[block] = {"test_acc_mean": None, "best_position": None, "position_sensitivity": None,
                                "position_sensitivity_ci95_low": None, "position_sensitivity_ci95_high": None}
            continue
        relative = all(baseline.get(p) is not None for p in accuracies)
        scores = {p: a - baseline[p] if relative else a for p, a in accuracies.items()}
        high, low = max(scores, key=scores.get), min(scores, key=scores.get)
        interval = (math.nan, math.nan)
        seeds_high, seeds_low = seeds.get((block, high), {}), seeds.get((block, low), {})
        if len(scores) > 1 and seeds_high and seeds_low:
            found = stats.compare(seeds_high, seeds_low)
            shift = (baseline[high] - baseline[low]) if relative else 0.0
            interval = (found["low"] - shift, found["high"] - shift)
        summaries[block] = {
            "test_acc_mean": round(sum(accuracies.values()) / len(accuracies), 4),
            "best_position": max(accuracies, key=accuracies.get),
            "position_sensitivity": round((scores[high] - scores[low]) * 100, 2) if len(scores) > 1 else None,
            "position_sensitivity_ci95_low": _rounded(interval[0] * 100, 2),
            "position_sensitivity_ci95_high": _rounded(interval[1] * 100, 2),
        }
    return summaries


def _plain(value):
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value


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
