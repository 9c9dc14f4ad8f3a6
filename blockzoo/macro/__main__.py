"""Macro architectures: profile them, list BLOX's unique cells, sample a space.

    python -m blockzoo.macro profile ARCH [ARCH ...]     one JSON object per line: params, FLOPs, memory
    python -m blockzoo.macro cells                       the 45 unique BLOX cells, one per line
    python -m blockzoo.macro sample --space blox --n 20 --seed 0

ARCH: a BLOX arch vector as JSON, nested ([[[0],[1,1,1,1]],[[1],[1,1,0,0]],[[0],[0,1,1,0]]]) or flat
(15 integers), a BLOX id (blox-10-22-04), or a zoo network, one block per stage
(InvertedResidual,RepMixer,ResNetBottleneck).
"""
from __future__ import annotations

import json
import sys

from blockzoo import cli
from blockzoo.errors import cli_errors


def build_parser() -> cli.Parser:
    p = cli.parser("blockzoo.macro", __doc__)
    commands = p.add_subparsers(dest="command", required=True, parser_class=cli.Parser)
    profile = commands.add_parser("profile", help="params, FLOPs and memory of architectures, one JSON line each")
    profile.add_argument("archs", nargs="+", metavar="ARCH")
    profile.add_argument("--device", default="cpu", help="where the memory is measured (default cpu)")
    profile.add_argument("--memory-batch-size", type=int, default=None, metavar="N",
                         help="batch of the memory measurement (default 8 on a CPU, 64 on a GPU)")
    profile.add_argument("--blox-width", type=int, default=32, metavar="N", help="BLOX stem width (default 32)")
    cli.add_scaffold_options(profile)
    commands.add_parser("cells", help="the 45 unique BLOX cells, one per line")
    sample = commands.add_parser("sample", help="a seeded sample of architectures, one per line")
    sample.add_argument("--space", default="blox", help="blox or zoo (default blox)")
    sample.add_argument("--n", type=int, default=10, help="how many (default 10)")
    sample.add_argument("--seed", type=int, default=0, help="default 0")
    sample.add_argument("--blocks", metavar="A,B", help="the zoo space's blocks (default: every registered block)")
    return p


def profile_archs(args) -> None:
    from blockzoo.cell import Cell
    from blockzoo.macro.cells import BloxCell, ZooMacroCell
    from blockzoo.macro.space import BloxSpace, ZooSpace, network_name
    from blockzoo.names import is_macro_cell
    from blockzoo.profile.measure import profile_cell
    from blockzoo.settings import ProfileSettings

    template = cli.cell_from_args(args, "ResNetBasicBlock", "mid")  # imports --block-module, checks the scaffold
    settings = ProfileSettings(memory_batch_size=args.memory_batch_size, device=args.device)
    cells = []
    for text in args.archs:  # every argument checked before anything is measured
        if text.lstrip().startswith("[") or text.startswith("blox-"):
            space = BloxSpace()
            cells.append((space, BloxCell(space.parse(text), template.scaffold, args.blox_width)))
        else:
            space = ZooSpace(())
            stages = space.parse(text)
            name = network_name(stages)
            cell = ZooMacroCell(stages, template.scaffold)
            if not is_macro_cell(name):  # a block at one position: the same network as that cell
                cell = Cell.from_name(name, template.scaffold)
            cells.append((space, cell))
            cell.build()
    for space, cell in cells:
        record = profile_cell(cell, settings)
        profile = {key: value for key, value in record["profile"].items() if key != "env"}
        arch = cell.arch if hasattr(cell, "arch") else list(cell.stage_blocks().values())
        print(json.dumps({"id": cell.name, "space": space.name, "arch": space.vector(arch),
                          "description": space.describe(arch), **profile}), flush=True)


@cli_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from blockzoo.macro import blox
    from blockzoo.macro.space import space_of

    if args.command == "cells":
        for index, cell in enumerate(blox.unique_cells()):
            op1, op2, prev, inp, sc = cell
            print(f"{index:02d} {json.dumps([[op1], [op2, prev, inp, sc]])} {blox.describe_cell(cell)}")
    elif args.command == "sample":
        blocks = [b.strip() for b in args.blocks.split(",")] if args.blocks else None
        if args.space == "zoo" and blocks is None:
            from blockzoo.blocks.registry import list_available_blocks

            blocks = list_available_blocks()
        space = space_of(args.space, blocks or ())
        for arch in space.sample(args.n, args.seed):
            print(f"{space.id(arch)} {json.dumps(space.vector(arch))} {space.describe(arch)}")
    else:
        profile_archs(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
