"""Per-epoch training curves: the dvclive TSVs of many runs as one long table, written and read back."""
from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from blockzoo.errors import BlockzooError

CURVE_COLUMNS = ("block", "position", "epoch", "val_acc")

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
    rows = []
    for block, position, seed, folder in runs:
        curves = read_run_curves(folder)
        epochs = max((len(values) for values in curves.values()), default=0)
        for epoch in range(epochs):
            row = {"block": block, "position": position, "seed": seed, "epoch": epoch}
            row.update({m: values[epoch] for m, values in curves.items() if epoch < len(values)})
            rows.append(row)
    return pd.DataFrame(rows, columns=["block", "position", "seed", "epoch", *CURVE_METRICS])


def check_curves(frame, what: str) -> None:
    missing = [c for c in CURVE_COLUMNS if c not in getattr(frame, "columns", ())]
    if missing:
        raise BlockzooError(f"{what} is not a curves file (missing columns: {', '.join(missing)}; "
                            f"needs {', '.join(CURVE_COLUMNS)}, seed optional); "
                            "give the curves.csv written by the aggregate stage")


def read_curves(path: str | Path) -> pd.DataFrame:
    """Read a long-format curves CSV (block, position, seed, epoch, val_acc, ...)."""
    path = Path(path)
    if not path.is_file():
        raise BlockzooError(f"curves file {path} does not exist; run the aggregate stage, or leave out --curves")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise BlockzooError(f"curves file {path} is not a readable CSV "
                            f"({str(exc).splitlines()[0] if str(exc) else exc}); "
                            "re-create it with the aggregate stage") from None
    check_curves(frame, f"{path}")
    for name in ("epoch", "val_acc"):
        if pd.to_numeric(frame[name], errors="coerce").isna().all() and len(frame):
            raise BlockzooError(f"{path}: column '{name}' holds no numbers; "
                                "re-create the file with the aggregate stage")
    return frame
