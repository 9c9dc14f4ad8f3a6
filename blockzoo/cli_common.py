"""Command-line pieces shared by profile, benchmark and zoo: scaffold options, devices, tables."""
from __future__ import annotations

import argparse
from typing import Callable, Iterable, Sequence

from rich.console import Console
from rich.table import Table

from blockzoo import results

SCAFFOLD_DEFAULTS = {"num_blocks": 3, "base_channels": 64, "num_classes": 100, "in_chans": 3, "input_size": 32}


def cell_parser(module: str, doc: str) -> argparse.ArgumentParser:
    """A parser with what every one-cell command takes: block, --position, --device, --output, the scaffold."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=doc.split("\n\n")[0])
    parser.add_argument("block", help="registered block name")
    parser.add_argument("--position", required=True, help="early, mid or late")
    add_device_argument(parser)
    parser.add_argument("--output", metavar="PATH", help="write the record here as JSON (validated, atomic)")
    add_scaffold_arguments(parser)
    return parser


def show_and_write(record: dict, show: Callable[[dict], None], output: str | None) -> int:
    """The end of a one-cell command: print the record's table, write the record if asked."""
    show(record)
    if output:
        results.write_record(output, record)
    return 0


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (cuda when there is one; default cpu)")


def add_scaffold_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("scaffold (defaults are BLOCKS.md's)")
    for name, default in SCAFFOLD_DEFAULTS.items():
        group.add_argument(f"--{name.replace('_', '-')}", type=int, default=default, metavar="N", help=f"default {default}")
    parser.add_argument(
        "--block-module", action="append", default=[], metavar="MODULE",
        help="a .py file or importable module that registers blocks with @register_block (repeatable)",
    )


def scaffold_arguments(args: argparse.Namespace) -> dict:
    """The keyword arguments profile_block / benchmark_block take for the scaffold and user blocks."""
    return {name: getattr(args, name) for name in SCAFFOLD_DEFAULTS} | {"block_modules": tuple(args.block_module)}


def console() -> Console:
    # piped output (a log, a test) gets a wide table instead of one wrapped to 80 columns
    plain = Console()
    return plain if plain.is_terminal else Console(width=max(plain.width, 200))


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[object]], notes: Iterable[str] = ()) -> None:
    """A table (first two columns left-aligned, the numbers right-aligned), then one line per note."""
    table = Table(title=title)
    for index, column in enumerate(columns):
        table.add_column(column, justify="left" if index < 2 else "right")
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    out = console()
    out.print(table)
    for note in notes:
        out.print(note, highlight=False)


def millions(count: int) -> str:
    return f"{count / 1e6:.3f}M"


def mebibytes(num_bytes: int) -> str:
    return f"{num_bytes / 2**20:.1f} MiB"


def train_to_deploy(train: str, deploy: str) -> str:
    """'a' when the forms agree, else 'a -> b' (train form -> deploy form)."""
    return train if train == deploy else f"{train} -> {deploy}"
