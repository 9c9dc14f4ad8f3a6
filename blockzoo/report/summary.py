"""The per-cell summary every report is built from: one row per block x position, with THE accuracy of a
cell (mean and sample std of test accuracy over its seeds that completed with a finite loss), its costs,
and the Pareto frontier of accuracy against a cost."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from blockzoo.errors import BlockzooError
from blockzoo.names import POSITIONS, cell_name
from blockzoo.results import SCHEMA

DEFAULT_LATENCY = "benchmark.latency_b1_ms"
LATENCY_COLUMNS = tuple(name for name in SCHEMA if name.startswith("benchmark.") and "latency" in name)
DATASET_NAMES = {"cifar100": "CIFAR-100", "cifar10": "CIFAR-10", "fashion-mnist": "Fashion-MNIST"}


def pareto_front(points) -> np.ndarray:
    """Boolean mask of the Pareto-optimal points, minimising x and maximising y.

    `points`: an (n, 2) array-like of (x, y). A point is on the front when no other point is at least
    as good in both coordinates and strictly better in one. Ties: points with equal x keep only the
    highest y; exact duplicates of a front point are all on the front (neither dominates the other).
    Points with a NaN coordinate are never on the front and dominate nothing.
    """
    array = np.asarray(points, dtype=float)
    if array.size == 0:
        return np.zeros(0, dtype=bool)
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"pareto_front expects (n, 2) points, got shape {array.shape}")
    x, y = array[:, 0], array[:, 1]
    finite = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    mask = np.zeros(len(array), dtype=bool)
    if not len(finite):
        return mask
    # O(n log n), for the 91,125 networks of a BLOX release (an n x n comparison needs n^2 bytes): by x, a point
    # is on the front when its y is the highest of its x and higher than every y at a smaller x.
    order = finite[np.argsort(x[finite], kind="stable")]
    xs, ys = x[order], y[order]
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    group_max = np.maximum.reduceat(ys, starts)
    before = np.r_[-np.inf, np.maximum.accumulate(group_max)[:-1]]  # the best y at a strictly smaller x
    group = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(xs)]))
    mask[order] = (ys == group_max[group]) & (group_max[group] > before[group])
    return mask


@dataclass
class Summary:
    """One row per block x position (`cells`) and what the captions need to say about them."""
    cells: pd.DataFrame
    n_seeds: tuple[int, int]             # min, max seeds behind the accuracy of a trained cell
    diverged: list[str] = field(default_factory=list)  # "<cell> seed s"
    untrained: list[str] = field(default_factory=list)  # cells with no accuracy yet
    dataset: str = ""


def column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame.columns:
        return frame[name]
    return pd.Series([None] * len(frame), index=frame.index, dtype=object)


def numeric(frame: pd.DataFrame, name: str) -> pd.Series:
    return pd.to_numeric(column(frame, name), errors="coerce").astype("float64")


def position_order(positions) -> list[str]:
    present = list(dict.fromkeys(p for p in positions if p is not None and p == p))
    return [p for p in POSITIONS if p in present] + sorted(p for p in present if p not in POSITIONS)


def flops_column(frame: pd.DataFrame) -> tuple[str, str]:
    """Deploy-form FLOPs where every row has them (what the latency measures), else train form."""
    deploy = numeric(frame, "profile.flops_total_deploy")
    if len(frame) and deploy.notna().all():
        return "profile.flops_total_deploy", "deploy form"
    return "profile.flops_total", "train form"


def params_column(frame: pd.DataFrame) -> tuple[str, str]:
    deploy = numeric(frame, "profile.params_total_deploy")
    if len(frame) and deploy.notna().all():
        return "profile.params_total_deploy", "deploy form"
    return "profile.params_total", "train form"


def summarize(frame: pd.DataFrame, latency_column: str = DEFAULT_LATENCY) -> Summary:
    """Per block x position: mean/std test accuracy over the seeds that completed, latency, FLOPs, params."""
    check_frame(frame)
    acc, valid, diverged_rows = _accuracy(frame)
    flops_name, _ = flops_column(frame)
    params_name, _ = params_column(frame)
    work = pd.DataFrame({
        "block": frame["block"].astype(str), "position": frame["position"].astype(str),
        "seed": numeric(frame, "seed"), "acc": acc.where(valid),
        "val_acc": numeric(frame, "train.val_acc").where(valid),
        "latency_ms": numeric(frame, latency_column), "flops": numeric(frame, flops_name),
        "params": numeric(frame, params_name), "diverged": diverged_rows,
    })
    rows = []
    for (block, position), group in work.groupby(["block", "position"], sort=False):
        accs = group["acc"].dropna()
        rows.append({
            "cell": row_cell(block, position), "block": block, "position": position,
            "latency_ms": group["latency_ms"].median(), "flops_m": group["flops"].median() / 1e6,
            "params_m": group["params"].median() / 1e6,
            "test_acc": accs.mean() if len(accs) else math.nan,
            "test_acc_std": accs.std(ddof=1) if len(accs) > 1 else math.nan,
            "val_acc": group["val_acc"].mean(), "n_seeds": len(accs),
            "n_diverged": int(group["diverged"].sum()),
        })
    cells = pd.DataFrame(rows, columns=["cell", "block", "position", "latency_ms", "flops_m", "params_m", "test_acc",
                                        "test_acc_std", "val_acc", "n_seeds", "n_diverged"])
    order = {p: i for i, p in enumerate(position_order(cells["position"]))}
    cells = (cells.assign(_p=cells["position"].map(order)).sort_values(["block", "_p"]).drop(columns="_p")
             .reset_index(drop=True))
    diverged = [f"{row_cell(b, p)} seed {'?' if s != s else int(s)}" for b, p, s in
                work.loc[work["diverged"], ["block", "position", "seed"]].itertuples(index=False)]
    trained = cells[cells["n_seeds"] > 0]
    untrained = [c for c, n, d in zip(cells["cell"], cells["n_seeds"], cells["n_diverged"], strict=True)
                 if n == 0 and d == 0]
    n_seeds = (int(trained["n_seeds"].min()), int(trained["n_seeds"].max())) if len(trained) else (0, 0)
    datasets = sorted({d for d in column(frame, "train.dataset").dropna()})
    dataset = " / ".join(DATASET_NAMES.get(d, d) for d in datasets)
    return Summary(cells, n_seeds, diverged, untrained, dataset)


def row_cell(block: str, position: str) -> str:
    """The name of a leaderboard row: the cell's name (blockzoo.names.cell_name, "RepMixer-mid"); the baseline
    network, one cell standing at every position, gets its position too ("ResNetBasicBlock-mid", as its
    metrics/noise file) so that each row has its own name."""
    name = cell_name(block, position)
    return name if name != block else f"{block}-{position}"


def seed_accuracies(frame: pd.DataFrame, metric: str = "train.test_acc") -> dict:
    """{(block, position): {seed: accuracy}} of the seeds that completed with a finite loss (as summarize counts)."""
    _, valid, _ = _accuracy(frame)
    values = numeric(frame, metric)
    keep = valid & values.notna() & numeric(frame, "seed").notna()
    out: dict = {}
    for block, position, seed, value in zip(frame["block"][keep].astype(str), frame["position"][keep].astype(str),
                                            numeric(frame, "seed")[keep], values[keep], strict=True):
        out.setdefault((block, position), {})[int(seed)] = float(value)
    return out


def _accuracy(frame: pd.DataFrame):
    acc = numeric(frame, "train.test_acc")
    diverged_rows = (column(frame, "train.status") == "diverged").fillna(False).astype(bool)
    return acc, acc.notna() & np.isfinite(acc) & ~diverged_rows, diverged_rows


def check_frame(frame) -> None:
    if not isinstance(frame, pd.DataFrame) or "block" not in frame.columns or "position" not in frame.columns:
        raise BlockzooError("the results to plot need 'block' and 'position' columns; "
                            "read them with blockzoo.results.read_results")


def check_latency_column(name: str) -> None:
    if name not in LATENCY_COLUMNS:
        raise BlockzooError(f"unknown latency column '{name}'; choose one of {', '.join(LATENCY_COLUMNS)}")
