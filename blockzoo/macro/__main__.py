"""Macro architectures: profile them, list the unique BLOX cells, sample a space, search BLOX's release, export.

    python -m blockzoo.macro profile ARCH [ARCH ...]     one JSON object per line: params, FLOPs, memory
    python -m blockzoo.macro blox-cells                  the 45 unique BLOX cells, one per line
    python -m blockzoo.macro sample --space blox --n 20 --seed 0
    python -m blockzoo.macro search RELEASE --budget 300 --runs 10      random search and regularised evolution
                                                         over a BLOX release folder: their trajectories
    python -m blockzoo.macro export METRICS OUT [--curves plots/curves]  blockzoo's BLOX runs as a BLOX release

ARCH: a BLOX arch vector as JSON, nested ([[[0],[1,1,1,1]],[[1],[1,1,0,0]],[[0],[0,1,1,0]]]) or flat
(15 integers), a BLOX id (blox-10-22-04), or a zoo network, one block per stage
(InvertedResidual,RepMixer,ResNetBottleneck).
"""
from __future__ import annotations

import json
import sys

from blockzoo import cli
from blockzoo.errors import BlockzooError, cli_errors


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
    commands.add_parser("blox-cells", help="the 45 unique BLOX cells, one per line")
    sample = commands.add_parser("sample", help="a seeded sample of architectures, one per line")
    sample.add_argument("--space", default="blox", help="blox or zoo (default blox)")
    sample.add_argument("--n", type=int, default=10, help="how many (default 10)")
    sample.add_argument("--seed", type=int, default=0, help="default 0")
    sample.add_argument("--blocks", metavar="A,B", help="the zoo space's blocks (default: every registered block)")
    search = commands.add_parser("search", help="random search and regularised evolution over a BLOX release")
    search.add_argument("release", help="a folder of BLOX's files (blox-base-<seed>, blox-info; any format)")
    search.add_argument("--algorithm", choices=("random", "evolution", "both"), default="both")
    search.add_argument("--budget", type=int, default=100, help="architectures queried per run (default 100)")
    search.add_argument("--runs", type=int, default=10, help="runs per algorithm, seeds 0..runs-1 (default 10)")
    search.add_argument("--population", type=int, default=10, help="evolution's population (default 10)")
    search.add_argument("--sample", type=int, default=3, help="evolution's tournament size (default 3)")
    search.add_argument("--metric", choices=("val", "test"), default="val",
                        help="what is searched on: the best validation top-1 (default) or test top-1")
    search.add_argument("--ext", choices=("blox", "pickle", "csv"), default=None,
                        help="read only this format (default: .blox, then .pickle, then .csv)")
    search.add_argument("--every", type=int, default=None, metavar="N",
                        help="print the trajectory every N queries (default: about 10 points)")
    export = commands.add_parser("export", help="the BLOX architectures of blockzoo's results as a BLOX release")
    export.add_argument("metrics", help="the pipeline's metrics/ folder")
    export.add_argument("out", help="the release folder to write")
    export.add_argument("--curves", default="plots/curves", help="the per-epoch curves (default plots/curves)")
    export.add_argument("--formats", default="blox,pickle,csv", help="of blox, pickle, csv (default all three)")
    return p


def search_release(args) -> None:
    """Each algorithm's runs: one line per run (its best after every `every` queries), then the mean over runs."""
    import time

    import numpy as np

    from blockzoo.macro import blox_api, bloxrelease
    from blockzoo.macro.search import random_search, regularized_evolution

    start = time.perf_counter()
    view = blox_api.from_folder(args.release, include_static_info=True, preferred_ext=args.ext and [args.ext],
                                validate_data=False)
    table = bloxrelease.search_table(view, args.metric)
    print(f"# {len(table):,} architectures from {args.release} in {time.perf_counter() - start:.1f} s; searching on "
          f"{args.metric} top-1 (%), {args.runs} runs of {args.budget} queries", flush=True)
    algorithms = {"random": random_search,
                  "evolution": lambda t, b, s: regularized_evolution(t, b, s, args.population, args.sample)}
    every = args.every or max(1, args.budget // 10)
    points = sorted({*range(every, args.budget + 1, every), args.budget})
    print("algorithm   run  " + " ".join(f"{p:>7d}" for p in points))
    for name in (("random", "evolution") if args.algorithm == "both" else (args.algorithm,)):
        runs = [algorithms[name](table, args.budget, seed) for seed in range(args.runs)]
        for seed, trajectory in enumerate(runs):
            print(f"{name:<11} {seed:>3d}  " + " ".join(f"{trajectory[p - 1]:7.3f}" for p in points), flush=True)
        mean = np.mean([[run[p - 1] for p in points] for run in runs], axis=0)
        print(f"{name:<11} mean " + " ".join(f"{v:7.3f}" for v in mean), flush=True)
    print(f"# best in the table: {max(table.values()):.3f}")


def export_release(args) -> None:
    from blockzoo.macro import bloxrelease
    from blockzoo.macro.dataset import MacroDataset

    dataset = MacroDataset.from_folder(args.metrics, curves=args.curves)
    for path in bloxrelease.export(dataset, args.out, formats=_formats(args.formats)):
        print(path)


def _formats(text: str) -> list[str]:
    formats = [f".{part.strip().lstrip('.')}" for part in text.split(",") if part.strip()]
    unknown = [f for f in formats if f not in (".blox", ".pickle", ".csv")]
    if unknown or not formats:
        raise BlockzooError(f"--formats {text!r}: give some of blox, pickle, csv, separated by commas")
    return formats


def check_args(args) -> None:
    """Every option a command takes, checked before it starts work."""
    from pathlib import Path

    positive = {"search": ("budget", "runs", "population", "sample", "every"), "sample": ("n",),
                "profile": ("memory_batch_size",)}.get(args.command, ())
    for name in positive:
        value = getattr(args, name, None)
        least = 0 if name == "n" else 1
        if value is not None and value < least:
            raise BlockzooError(f"--{name.replace('_', '-')} must be >= {least}, got {value}")
    if args.command == "profile" and args.blox_width < 2:
        raise BlockzooError(f"--blox-width must be >= 2 (bconv's narrowest layer has width // 2 channels), "
                            f"got {args.blox_width}")
    if args.command == "search":
        if args.sample > args.population:
            raise BlockzooError(f"--sample {args.sample} is larger than --population {args.population}; the "
                                "tournament draws from the population")
        if not Path(args.release).is_dir():
            raise BlockzooError(f"{args.release} is not a folder; give the folder of BLOX's release files")
    if args.command == "export":
        _formats(args.formats)
        if not Path(args.metrics).is_dir():
            raise BlockzooError(f"{args.metrics} is not a folder of results; give the pipeline's metrics/ folder")
        if Path(args.out).exists() and not Path(args.out).is_dir():
            raise BlockzooError(f"{args.out} is a file; give a folder to write the release into")


def profile_archs(args) -> None:
    from blockzoo.cell import Cell
    from blockzoo.macro.networks import BloxMacroCell, ZooMacroCell
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
            cells.append((space, BloxMacroCell(space.parse(text), template.scaffold, args.blox_width)))
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
    check_args(args)
    from blockzoo.macro import blox
    from blockzoo.macro.space import space_of

    if args.command == "blox-cells":
        for index, blox_cell in enumerate(blox.unique_blox_cells()):
            op1, op2, prev, inp, sc = blox_cell
            print(f"{index:02d} {json.dumps([[op1], [op2, prev, inp, sc]])} {blox.describe_blox_cell(blox_cell)}")
    elif args.command == "sample":
        blocks = [b.strip() for b in args.blocks.split(",")] if args.blocks else None
        if args.space == "zoo" and blocks is None:
            from blockzoo.blocks.registry import list_available_blocks

            blocks = list_available_blocks()
        space = space_of(args.space, blocks or ())
        for arch in space.sample(args.n, args.seed):
            print(f"{space.id(arch)} {json.dumps(space.vector(arch))} {space.describe(arch)}")
    elif args.command == "search":
        search_release(args)
    elif args.command == "export":
        export_release(args)
    else:
        profile_archs(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
