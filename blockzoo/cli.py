"""Command-line pieces shared by the commands: one-line usage errors, cell options, tables.

Light on purpose: a command imports torch only after its options are parsed, so `--help` is instant.
"""
from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from blockzoo.errors import BlockzooError

if TYPE_CHECKING:
    from blockzoo.cell import Cell

SCAFFOLD_OPTIONS = {"num_blocks": 3, "base_channels": 64}


class Parser(argparse.ArgumentParser):
    """argparse, with usage errors as one line through cli_errors (exit 2)."""

    def error(self, message: str):
        raise BlockzooError(f"{message} (see {self.prog} --help)")


def parser(module: str, doc: str) -> Parser:
    return Parser(prog=f"python -m {module}", description=doc.strip().split("\n\n")[0],
                  formatter_class=argparse.RawDescriptionHelpFormatter)


def cell_parser(module: str, doc: str) -> Parser:
    """A parser with what every one-cell command takes: block, --position, --device, --output, the scaffold."""
    p = parser(module, doc)
    p.add_argument("block", help="registered block name, optionally with a variant: InvertedResidual.uniform")
    p.add_argument("--position", required=True, help="early, mid or late")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (cuda when there is one; default cpu)")
    p.add_argument("--output", metavar="PATH", help="write the record here as JSON (validated, atomic)")
    add_scaffold_options(p)
    return p


def add_scaffold_options(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("scaffold (defaults are docs/blocks.md's)")
    for name, default in SCAFFOLD_OPTIONS.items():
        group.add_argument(f"--{name.replace('_', '-')}", type=int, default=default, metavar="N",
                           help=f"default {default}")
    group.add_argument("--dataset", default="cifar100",
                       help="the dataset the network is for: its classes and channels (default cifar100)")
    p.add_argument("--block-module", action="append", default=[], metavar="MODULE",
                   help="a .py file or importable module that registers blocks with @register_block (repeatable)")


def cell_from_args(args: argparse.Namespace, block: str | None = None, position: str | None = None) -> "Cell":
    """The Cell the options name, after importing the user's block modules."""
    from blockzoo.blocks.registry import import_block_modules
    from blockzoo.cell import Cell
    from blockzoo.data.catalogue import get_dataset_info
    from blockzoo.settings import ScaffoldSpec

    import_block_modules(args.block_module)
    scaffold = ScaffoldSpec.for_dataset({name: getattr(args, name) for name in SCAFFOLD_OPTIONS},
                                        get_dataset_info(args.dataset))
    return Cell(block or args.block, position or args.position, scaffold)


def console():
    from rich.console import Console

    # piped output (a log, a test) gets a wide table instead of one wrapped to 80 columns
    plain = Console()
    return plain if plain.is_terminal else Console(width=max(plain.width, 200))


def print_table(
    title: str, columns: Sequence[str], rows: Iterable[Sequence[object]], notes: Iterable[str] = ()
) -> None:
    """A table (first two columns left-aligned, the numbers right-aligned), then one line per note."""
    from rich.table import Table

    table = Table(title=title)
    for index, column in enumerate(columns):
        table.add_column(column, justify="left" if index < 2 else "right")
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    out = console()
    out.print(table)
    for note in notes:
        out.print(note, highlight=False)


def show_and_write(record: dict, show, output: str | None) -> int:
    """The end of a one-cell command: print the record's table, write the record if asked."""
    from blockzoo import results

    show(record)
    if output:
        results.write_record(output, record)
    return 0


def millions(count: int) -> str:
    return f"{count / 1e6:.3f}M"


def mebibytes(num_bytes: int) -> str:
    return f"{num_bytes / 2**20:.1f} MiB"


def train_to_deploy(train: str, deploy: str) -> str:
    """'a' when the forms agree, else 'a -> b' (train form -> deploy form)."""
    return train if train == deploy else f"{train} -> {deploy}"
