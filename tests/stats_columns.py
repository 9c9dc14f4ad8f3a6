"""Test fixtures: a leaderboard with the statistics columns the figures draw (marks.STATS_COLUMNS), computed
here from the results the tests generate: the 95% t-interval of the mean over seeds, the difference from the
baseline at the same position with its Welch interval, a verdict and still improving (from the curves)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from blockzoo.names import BASELINE_BLOCK
from blockzoo.report.leaderboard import leaderboard_table

T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}


def _t95(df: float) -> float:
    return T95.get(int(round(df)), 2.0) if df >= 1 else math.nan


def _accuracies(frame: pd.DataFrame) -> dict[tuple[str, str], np.ndarray]:
    ok = frame[frame.get("train.status", pd.Series("completed", index=frame.index)) != "diverged"]
    acc = pd.to_numeric(ok["train.test_acc"], errors="coerce")
    return {key: group.dropna().to_numpy() for key, group in acc.groupby([ok["block"], ok["position"]])}


def with_stats_columns(frame: pd.DataFrame, curves: pd.DataFrame | None = None) -> pd.DataFrame:
    """leaderboard_table(frame) with test_acc_ci95_low/high, diff_vs_baseline, diff_ci95_low/high, p_value, verdict,
    rank_best, rank_worst and still_improving."""
    table = leaderboard_table(frame)
    accs = _accuracies(frame)
    rows = []
    for row in table.itertuples(index=False):
        a = accs.get((row.block, row.position), np.zeros(0))
        b = accs.get((BASELINE_BLOCK, row.position), np.zeros(0))
        out = dict.fromkeys(("test_acc_ci95_low", "test_acc_ci95_high", "diff_vs_baseline", "diff_ci95_low",
                             "diff_ci95_high", "p_value"), math.nan)
        if len(a) > 1:
            half = _t95(len(a) - 1) * a.std(ddof=1) / math.sqrt(len(a))
            out.update(test_acc_ci95_low=a.mean() - half, test_acc_ci95_high=a.mean() + half)
        verdict = "baseline" if row.block == BASELINE_BLOCK else "not resolved"
        if row.block != BASELINE_BLOCK and len(a) > 1 and len(b) > 1:
            va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
            se = math.sqrt(va + vb) or 1e-12
            df = (va + vb) ** 2 / ((va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1)) or 1e-24)
            diff = a.mean() - b.mean()
            low, high = diff - _t95(df) * se, diff + _t95(df) * se
            out.update(diff_vs_baseline=diff, diff_ci95_low=low, diff_ci95_high=high,
                       p_value=math.erfc(abs(diff / se) / math.sqrt(2)))
            verdict = "better" if low > 0 else "worse" if high < 0 else "not resolved"
        rows.append({**out, "verdict": verdict, "still_improving": _still_improving(curves, row.block, row.position)})
    stats = pd.DataFrame(rows, index=table.index)
    table = pd.concat([table, stats], axis=1)
    table["rank_best"] = table["rank"]
    table["rank_worst"] = table["rank"]
    return table


def _still_improving(curves: pd.DataFrame | None, block: str, position: str) -> bool:
    if curves is None:
        return False
    part = curves[(curves["block"] == block) & (curves["position"] == position)]
    mean = part.groupby("epoch")["val_acc"].mean().sort_index()
    return bool(len(mean) > 1 and mean.iloc[-1] >= mean.max() and mean.iloc[-1] > mean.iloc[-2])
