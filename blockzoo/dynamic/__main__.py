"""BlockDrop on one trained cell, outside DVC: learn per image which blocks to skip, then measure it honestly.

    python -m blockzoo.dynamic ResNetBasicBlock --position mid --seed 0 --dataset fashion-mnist \\
        --data-archive /usr/share/datasets/fashion-mnist --num-blocks 1 --base-channels 16 --device cpu

The trained cell is the pipeline's runs/<cell>-s<seed>/ (or --checkpoint, a best.ckpt of blockzoo.train);
the scaffold and dataset it was trained with are read from its run (config.json beside checkpoints/), and any
scaffold option given must agree with them. BLOCK may also be a network: resnet32 or resnet110 (BlockDrop's
CIFAR ResNets: ResNetBasicBlock.cifar in every stage, 5 or 18 blocks per stage, widths 16/32/64), or A+B+C (a
block per stage). --plan prints K, the policy's FLOPs and the break-even in both FLOP conventions and stops
(no checkpoint needed):

    python -m blockzoo.dynamic resnet110 --dataset cifar10 --plan

Writes <out-dir>/record.json and the figures.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from blockzoo import cli
from blockzoo.checks import SEED
from blockzoo.errors import BlockzooError, cli_errors
from blockzoo.settings import GAMMA, DataSettings, DynamicSettings

# BlockDrop's CIFAR ResNets: ResNetBasicBlock.cifar (identity shortcuts, parameter-free downsampling) in every
# stage, widths 16/32/64; blocks per stage
NETWORKS = {"resnet32": 5, "resnet110": 18}


def _widths(text: str) -> list[int]:
    try:
        widths = [int(w) for w in text.split(",")]
    except ValueError:
        widths = []
    if len(widths) != 3 or min(widths) < 1 or max(widths) > 1024:
        raise argparse.ArgumentTypeError(f"must be three widths in 1..1024, comma-separated (e.g. 8,16,32), got {text}")
    return widths


# every numeric option of the dynamic settings; its range and why come from the settings field
NUMBERS = ("curriculum_epochs", "finetune_epochs", "batch_size", "limit_train_batches", "latency_images",
           "curriculum_gamma", "alpha", "entropy_weight", "curriculum_lr", "finetune_lr", "lr_decay_at",
           "policy_input_size")


def build_parser() -> cli.Parser:
    p = cli.parser("blockzoo.dynamic", __doc__)
    p.add_argument("block", help="registered block name (or Block.variant); or resnet32, resnet110, A+B+C")
    p.add_argument("--position", help="the block's stage: early, mid or late (not for a network)")
    p.add_argument("--seed", type=cli.bounded(SEED), default=0, help="the training seed of the cell (default 0)")
    p.add_argument("--gamma", type=cli.bounded(GAMMA), default=5.0, help="penalty of a wrong prediction (default 5)")
    p.add_argument("--runs", default="runs", help="the folder of the training runs (default runs)")
    p.add_argument("--checkpoint", help="the trained cell's best.ckpt (default: <runs>/<cell>-s<seed>/checkpoints)")
    p.add_argument("--out-dir", help="where this run goes (default <runs>/dynamic/<cell>-s<seed>-g<gamma>)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--fallback", default="shortcut", help="shortcut (default) or parameter-free")
    p.add_argument("--plan", action="store_true", help="print K, the policy's cost and the break-even, and stop")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    for name in NUMBERS:
        p.add_argument(f"--{name.replace('_', '-')}", type=cli.bounded(DynamicSettings.limit(name)),
                       default=argparse.SUPPRESS)
    p.add_argument("--policy-widths", type=_widths, default=argparse.SUPPRESS)
    cli.add_scaffold_options(p)
    p.set_defaults(num_blocks=None, base_channels=None, dataset=None)  # None: as the trained run says
    group = p.add_argument_group("data (as the cell was trained)")
    for option in ("data_root", "data_url", "data_archive", "data_md5"):
        group.add_argument(f"--{option.replace('_', '-')}", default=argparse.SUPPRESS)
    group.add_argument("--val-size", type=cli.bounded(DataSettings.limit("val_size")), default=argparse.SUPPRESS)
    group.add_argument("--split-seed", type=cli.bounded(SEED), default=argparse.SUPPRESS)
    return p


def _trained_run(checkpoint: Path) -> dict:
    """The fingerprint of the training run that wrote `checkpoint` (its config.json), or {}."""
    import json

    config = checkpoint.parent.parent / "config.json"
    try:
        return json.loads(config.read_text())
    except (OSError, ValueError):
        return {}


def _network_stages(block: str) -> tuple[str, str, str] | None:
    if block in NETWORKS:
        return ("ResNetBasicBlock.cifar",) * 3
    if "+" in block:
        stages = tuple(block.split("+"))
        if len(stages) != 3 or not all(stages):
            raise BlockzooError(f"network {block!r} must name one block per stage: A+B+C")
        return stages
    return None


def _cell(args, trained: dict):
    """The cell the options name, its scaffold completed from the trained run (trained: its config.json)."""
    from blockzoo.blocks.registry import import_block_modules
    from blockzoo.data.catalogue import get_dataset_info
    from blockzoo.settings import ScaffoldSpec

    import_block_modules(args.block_module)
    stages = _network_stages(args.block)
    if stages is None and args.position is None:
        if args.block != "ResNetBasicBlock":
            raise BlockzooError(f"block {args.block} needs --position (early, mid or late)")
        args.position = "mid"  # the baseline network is the same at every position
    if stages is not None and args.position is not None:
        raise BlockzooError(f"{args.block} is a whole network: give no --position")
    fixed = {"num_blocks": NETWORKS[args.block], "base_channels": 16} if args.block in NETWORKS else {}
    saved = {**(trained.get("scaffold") or {}), "dataset": (trained.get("data") or {}).get("dataset")}
    values = {}
    for name, default in (*cli.SCAFFOLD_OPTIONS.items(), ("dataset", "cifar100")):
        given = getattr(args, name)
        if name in fixed and given is not None and given != fixed[name]:
            raise BlockzooError(f"{args.block} has {fixed[name]} for --{name.replace('_', '-')}; got {given}")
        if trained and saved.get(name) is not None and given is not None and given != saved[name]:
            raise BlockzooError(f"the trained run was made with --{name.replace('_', '-')} {saved[name]}, not {given}: "
                                f"give {saved[name]} (or leave the option out)")
        values[name] = next(v for v in (given, fixed.get(name), saved.get(name), default) if v is not None)
    args.dataset = values.pop("dataset")
    scaffold = ScaffoldSpec.for_dataset(values, get_dataset_info(args.dataset))
    if stages is not None:
        from blockzoo.macro.networks import ZooMacroCell

        return ZooMacroCell(stages, scaffold)
    from blockzoo.cell import Cell

    return Cell(args.block, args.position, scaffold)


@cli_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    if args.checkpoint and not args.plan and not Path(args.checkpoint).is_file():
        raise BlockzooError(f"--checkpoint {args.checkpoint} is not a file")
    guess = Path(args.checkpoint) if args.checkpoint else None
    if guess is None:  # the run of the cell as named; its scaffold may come from there
        from blockzoo.names import cell_name

        stages = _network_stages(args.block)
        name = ("+".join(stages) if args.block not in NETWORKS else "+".join(stages)) if stages else \
            cell_name(args.block, args.position or "mid")
        guess = Path(args.runs) / f"{name}-s{args.seed}" / "checkpoints" / "best.ckpt"
    trained = {} if args.plan else _trained_run(guess)
    cell = _cell(args, trained)
    given = {name: getattr(args, name) for name in (*NUMBERS, "policy_widths") if hasattr(args, name)}
    settings = DynamicSettings(fallback=args.fallback, device=args.device, **given)  # refuses 0 epochs in all
    if args.plan:
        from blockzoo.dynamic.run import cost_lines, plan

        for line in cost_lines(plan(cell, settings, cell.scaffold.in_chans)):
            print(f"{cell.name} ({cell.scaffold.num_blocks} blocks per stage, {cell.scaffold.base_channels} channels, "
                  f"{args.dataset}): {line}")
        return 0
    from blockzoo.dynamic.run import load_trained, train_dynamic

    run = f"{cell.name}-s{args.seed}"
    checkpoint = Path(args.checkpoint) if args.checkpoint else Path(args.runs) / run / "checkpoints" / "best.ckpt"
    if not checkpoint.is_file():
        position = f" --position {args.position}" if args.position else ""
        train = (f"python -m blockzoo.train {cell.block or args.block}{position} --seed {args.seed} "
                 f"--out-dir {Path(args.runs) / run}")
        raise BlockzooError(f"no trained checkpoint at {checkpoint}: train the cell first, e.g. {train} "
                            f"(or `dvc repro train@{run.replace('-s', '-')}`)")
    load_trained(cell, checkpoint, __import__("torch").device("cpu"))  # a wrong checkpoint fails here, in one line
    fields = {"data_root": "root", "data_url": "url", "data_archive": "archive", "data_md5": "md5",
              "val_size": "val_size", "split_seed": "split_seed"}
    recorded = {key: value for key, value in (trained.get("data") or {}).items() if key in ("val_size", "split_seed")}
    data = DataSettings(dataset=args.dataset, **{**recorded, **{f: getattr(args, o) for o, f in fields.items()
                                                                if hasattr(args, o)}})
    out_dir = Path(args.out_dir) if args.out_dir else Path(args.runs) / "dynamic" / f"{run}-g{args.gamma:g}"
    record = train_dynamic(cell, checkpoint, settings, data, gamma=args.gamma, seed=args.seed, out_dir=out_dir,
                           progress=args.progress)
    d = record["dynamic"]
    print(f"{cell.name}, seed {args.seed}, gamma {args.gamma:g}: test accuracy {d['test_acc']:.4f} (static network "
          f"{d['test_acc_static']:.4f}), {d['blocks_used_mean']:.2f} +- {d['blocks_used_std']:.2f} of "
          f"{d['blocks_droppable']} blocks, {d['flops_per_image_with_policy_mean'] / 1e6:.2f} of "
          f"{d['flops_static'] / 1e6:.2f} MFLOPs per image (policy included; BlockDrop's rule "
          f"{d['flops_blockdrop_per_image_with_policy_mean'] / 1e6:.2f} of {d['flops_blockdrop_static'] / 1e6:.2f} M), "
          f"{d['distinct_policies']} distinct policies, latency {d['latency_ms']:.2f} vs "
          f"{d['latency_static_ms']:.2f} ms; selected epoch {d['best_epoch']} ({d['selected_stage']}); "
          f"record: {out_dir / 'record.json'}")
    if d["accuracy_warning"]:
        print(f"warning: {d['accuracy_warning']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
