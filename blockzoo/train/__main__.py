"""Train one block at one position of ScaffoldNet for one seed; write <out-dir>/record.json.

    python -m blockzoo.train ResNetBasicBlock --position mid --epochs 5 --dataset fashion-mnist \\
        --data-archive /usr/share/datasets/fashion-mnist

Every setting of params.yaml's `train` and `data` sections is an option here (same names, - for _).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from blockzoo import cli
from blockzoo.checks import SEED
from blockzoo.errors import cli_errors
from blockzoo.settings import DataSettings, TrainSettings

# the options of the settings' fields; their defaults and ranges are the settings classes' own (blockzoo/settings.py)
TRAIN_OPTIONS = ("recipe", "epochs", "batch_size", "lr", "weight_decay", "label_smoothing", "device", "precision",
                 "channels_last", "compile", "limit_train_batches")
DATA_OPTIONS = {"data_root": "root", "data_url": "url", "data_archive": "archive", "data_md5": "md5",
                "val_size": "val_size", "split_seed": "split_seed"}
TYPES = {**{name: cli.bounded(TrainSettings.limit(name)) for name in ("epochs", "batch_size", "limit_train_batches")},
         **{name: cli.bounded(DataSettings.limit(name)) for name in ("val_size", "split_seed")},
         "lr": cli.finite_float, "weight_decay": cli.finite_float, "label_smoothing": cli.finite_float,
         "data_md5": cli.md5_digest}


def build_parser() -> cli.Parser:
    p = cli.parser("blockzoo.train", __doc__)
    p.add_argument("block", help="registered block name, e.g. ResNetBasicBlock (or InvertedResidual.uniform)")
    p.add_argument("--position", required=True, help="stage under test: early, mid or late")
    p.add_argument("--seed", type=cli.bounded(SEED), default=0, help="training seed (default 0)")
    p.add_argument("--out-dir", default="runs/default", help="where the run's files go (default runs/default)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    cli.add_scaffold_options(p)
    group = p.add_argument_group("training (default: the recipe's, see docs/training.md)")
    for name in TRAIN_OPTIONS:
        if name == "channels_last":
            group.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                               help="channels-last memory format (default on)")
        elif name == "compile":
            group.add_argument("--compile", action="store_true", default=argparse.SUPPRESS,
                               help="torch.compile the network (default off)")
        else:
            group.add_argument(f"--{name.replace('_', '-')}", type=TYPES.get(name, str), default=argparse.SUPPRESS)
    group = p.add_argument_group("data (the dataset is --dataset)")
    for option in DATA_OPTIONS:
        group.add_argument(f"--{option.replace('_', '-')}", type=TYPES.get(option, str), default=argparse.SUPPRESS)
    return p


@cli_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    # everything that needs no torch is checked before the seconds of its imports
    cli.check_block_spec(args.block, args.block_module)
    cli.check_position(args.position)
    data = DataSettings(dataset=args.dataset, **{field: getattr(args, option) for option, field in DATA_OPTIONS.items()
                                                 if hasattr(args, option)})
    cli.scaffold_from_args(args)
    settings = TrainSettings(**{name: getattr(args, name) for name in TRAIN_OPTIONS if hasattr(args, name)})
    cli.check_output_dir(args.out_dir, "--out-dir")
    if not (Path(data.root) / data.dataset).is_dir():  # the dataset is fetched into it
        cli.check_output_dir(data.root, "--data-root")
    from blockzoo.train.run import train

    cell = cli.cell_from_args(args)
    record = train(cell, settings, data, seed=args.seed, out_dir=args.out_dir, progress=args.progress)
    t = record["train"]
    best = ("no finite epoch" if t["best_epoch"] is None else
            f"best epoch {t['best_epoch']}: val_acc {t['val_acc']:.4f}, test_acc {t['test_acc']:.4f}")
    print(f"{cell.name}, seed {args.seed}: {t['status']} after {t['epochs_run']} epochs, {best}; "
          f"record: {Path(args.out_dir) / 'record.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
