"""Per-epoch training curves: read the dvclive TSVs of many runs into one long table."""
from __future__ import annotations

import csv
from pathlib import Path

CURVE_METRICS = ("train_loss", "train_acc", "val_loss", "val_acc")


def read_run_curves(folder: str | Path) -> dict[str, list[float]]:
    """{metric: per-epoch values} from a dvclive plots/metrics folder (one <metric>.tsv per metric).

    dvclive writes one row per logged step, in order; the training loop logs once per epoch, so
    the row index is the epoch.
    """
    curves = {}
    for metric in CURVE_METRICS:
        path = Path(folder) / f"{metric}.tsv"
        if path.is_file():
            with open(path, newline="") as f:
                rows = sorted(csv.DictReader(f, delimiter="\t"), key=lambda row: int(row["step"]))
            curves[metric] = [float(row[metric]) for row in rows]
    return curves


def curves_table(runs: list[tuple[str, str, int, Path]]):
    """Long-format DataFrame (block, position, seed, epoch, metrics...) from (block, position, seed, folder)."""
    import pandas as pd

    rows = []
    for block, position, seed, folder in runs:
        curves = read_run_curves(folder)
        epochs = max((len(values) for values in curves.values()), default=0)
        for epoch in range(epochs):
            row = {"block": block, "position": position, "seed": seed, "epoch": epoch}
            row.update({m: values[epoch] for m, values in curves.items() if epoch < len(values)})
            rows.append(row)
    return pd.DataFrame(rows, columns=["block", "position", "seed", "epoch", *CURVE_METRICS])
