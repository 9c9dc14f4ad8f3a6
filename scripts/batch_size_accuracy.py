"""Validation accuracy per epoch of the narrow baseline on Fashion-MNIST at two batch sizes, equal epochs and seeds.

    python scripts/batch_size_accuracy.py [--batch-sizes 128 256] [--seeds 0 1] [--epochs 2] [--images-per-epoch N]

The sgd recipe scales its learning rate with the batch size (lr 0.2 at 256). --images-per-epoch limits each epoch
to that many training images (the reference's budget: 5120, 40 batches of 128); without it, full epochs of the
55,000 training images. Prints one line per run and epoch, then the mean per batch size and epoch.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from blockzoo.cell import Cell
from blockzoo.settings import DataSettings, ScaffoldSpec, TrainSettings
from blockzoo.train.run import train

FASHION_MNIST = "/usr/share/datasets/fashion-mnist"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--images-per-epoch", type=int, default=None)
    args = parser.parse_args()
    cell = Cell("ResNetBasicBlock", None, ScaffoldSpec(num_blocks=1, base_channels=16, num_classes=10, in_chans=1))
    data = DataSettings(dataset="fashion-mnist", archive=FASHION_MNIST)
    accuracy: dict[tuple[int, int], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="batch-size-") as tmp:
        for seed in args.seeds:
            for batch_size in args.batch_sizes:
                limit = args.images_per_epoch // batch_size if args.images_per_epoch else None
                settings = TrainSettings(epochs=args.epochs, batch_size=batch_size, limit_train_batches=limit,
                                         device="cpu")
                out = Path(tmp) / f"b{batch_size}-s{seed}"
                train(cell, settings, data, seed=seed, out_dir=out, data_dir=Path(tmp) / "data", progress=False)
                history = _history(out)
                for epoch, val_acc in enumerate(history):
                    accuracy.setdefault((batch_size, epoch), []).append(val_acc)
                    print(f"batch {batch_size} seed {seed} epoch {epoch + 1}: val_acc {val_acc:.4f}", flush=True)
    print(f"mean over seeds {args.seeds} (load average {os.getloadavg()[0]:.2f}):")
    for (batch_size, epoch), values in sorted(accuracy.items()):
        print(f"  batch {batch_size:4d} epoch {epoch + 1}: val_acc {statistics.mean(values):.4f} "
              f"({', '.join(f'{v:.4f}' for v in values)})")


def _history(out: Path) -> list[float]:
    rows = (out / "live" / "plots" / "metrics" / "val_acc.tsv").read_text().splitlines()[1:]
    return [float(row.split("\t")[-1]) for row in rows]


if __name__ == "__main__":
    sys.exit(main())
