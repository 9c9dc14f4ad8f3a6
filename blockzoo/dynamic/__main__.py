"""BlockDrop on one trained cell, outside DVC: learn per image which blocks to skip, then measure it honestly.

    python -m blockzoo.dynamic ResNetBasicBlock --position mid --seed 0 --dataset fashion-mnist \\
        --data-archive /usr/share/datasets/fashion-mnist --num-blocks 1 --base-channels 16 --device cpu

The trained cell is the pipeline's runs/<cell>-s<seed>/ (or --checkpoint, a best.ckpt of blockzoo.train);
the scaffold options must be those it was trained with. Writes <out-dir>/record.json and the figures.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from blockzoo import cli
from blockzoo.errors import BlockzooError, cli_errors

NUMBERS = {"curriculum_epochs": int, "finetune_epochs": int, "batch_size": int, "limit_train_batches": int,
           "latency_images": int, "curriculum_gamma": float, "alpha": float, "entropy_weight": float,
           "curriculum_lr": float, "finetune_lr": float}


def build_parser() -> cli.Parser:
    p = cli.parser("blockzoo.dynamic", __doc__)
    p.add_argument("block", help="registered block name (or Block.variant)")
    p.add_argument("--position", required=True, help="the block's stage: early, mid or late")
    p.add_argument("--seed", type=int, default=0, help="the training seed of the cell (default 0)")
    p.add_argument("--gamma", type=float, default=5.0, help="penalty of a wrong prediction (default 5)")
    p.add_argument("--runs", default="runs", help="the folder of the training runs (default runs)")
    p.add_argument("--checkpoint", help="the trained cell's best.ckpt (default: <runs>/<cell>-s<seed>/checkpoints)")
    p.add_argument("--out-dir", help="where this run goes (default <runs>/dynamic/<cell>-s<seed>-g<gamma>)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--fallback", default="shortcut", help="shortcut (default) or parameter-free")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    for name, kind in NUMBERS.items():
        p.add_argument(f"--{name.replace('_', '-')}", type=kind, default=argparse.SUPPRESS)
    cli.add_scaffold_options(p)
    group = p.add_argument_group("data (as the cell was trained)")
    for option in ("data_root", "data_url", "data_archive", "data_md5"):
        group.add_argument(f"--{option.replace('_', '-')}", default=argparse.SUPPRESS)
    group.add_argument("--val-size", type=int, default=argparse.SUPPRESS)
    group.add_argument("--split-seed", type=int, default=argparse.SUPPRESS)
    return p


@cli_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from blockzoo.dynamic.run import train_dynamic
    from blockzoo.settings import DataSettings, DynamicSettings

    cell = cli.cell_from_args(args)
    run = f"{cell.name}-s{args.seed}"
    checkpoint = Path(args.checkpoint) if args.checkpoint else Path(args.runs) / run / "checkpoints" / "best.ckpt"
    if not checkpoint.is_file():
        train = (f"python -m blockzoo.train {cell.block} --position {args.position} --seed {args.seed} "
                 f"--out-dir {Path(args.runs) / run}")
        raise BlockzooError(f"no trained checkpoint at {checkpoint}: train the cell first, e.g. {train} "
                            f"(or `dvc repro train@{run.replace('-s', '-')}`)")
    settings = DynamicSettings(fallback=args.fallback, device=args.device,
                               **{name: getattr(args, name) for name in NUMBERS if hasattr(args, name)})
    fields = {"data_root": "root", "data_url": "url", "data_archive": "archive", "data_md5": "md5",
              "val_size": "val_size", "split_seed": "split_seed"}
    data = DataSettings(dataset=args.dataset, **{f: getattr(args, o) for o, f in fields.items() if hasattr(args, o)})
    out_dir = Path(args.out_dir) if args.out_dir else Path(args.runs) / "dynamic" / f"{run}-g{args.gamma:g}"
    record = train_dynamic(cell, checkpoint, settings, data, gamma=args.gamma, seed=args.seed, out_dir=out_dir,
                           progress=args.progress)
    d = record["dynamic"]
    print(f"{cell.name}, seed {args.seed}, gamma {args.gamma:g}: test accuracy {d['test_acc']:.4f} (static network "
          f"{d['test_acc_static']:.4f}), {d['blocks_used_mean']:.2f} +- {d['blocks_used_std']:.2f} of "
          f"{d['blocks_droppable']} blocks, {d['flops_per_image_with_policy_mean'] / 1e6:.2f} of "
          f"{d['flops_static'] / 1e6:.2f} MFLOPs per image (policy included), latency {d['latency_ms']:.2f} vs "
          f"{d['latency_static_ms']:.2f} ms; record: {out_dir / 'record.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
