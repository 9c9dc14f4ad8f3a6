"""Command-line pieces shared by the commands: one-line usage errors, cell options, tables, and the checks a
command makes before its work starts (numbers in their range, names, output and input paths).

Light on purpose: a command imports torch only after its options are parsed and checked, so `--help`, and
an answer to what can be found wrong without torch, are instant.
"""
from __future__ import annotations

import argparse
import math
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from blockzoo.checks import Bounds, Range
from blockzoo.errors import BlockzooError
from blockzoo.names import BUILTIN_BLOCKS, POSITIONS, split_block_spec
from blockzoo.settings import DataSettings, ScaffoldSpec

if TYPE_CHECKING:
    from blockzoo.cell import Cell

SCAFFOLD_OPTIONS = {name: getattr(ScaffoldSpec(), name) for name in ScaffoldSpec.USER_KEYS}  # option -> default


MAX_SCAFFOLD_PARAMS = 500_000_000  # the benchmark's scaffold has 4.5M; a network past this takes minutes to build


def scaffold_params(num_blocks: int, base_channels: int) -> int:
    """About how many parameters the baseline scaffold has: two 3x3 convs per block at widths C, 2C, 4C
    (within 3% of the count from 4.5M to 200M)."""
    return 18 * (1 + 4 + 16) * base_channels**2 * num_blocks


def bounded(limit: Range | Bounds):
    """An argparse type: an integer in a setting's Range, or a number in its Bounds (e.g.
    TrainSettings.limit("epochs"), written once in its field); out of it, a message saying why it is that."""
    kind = int if isinstance(limit, Range) else float

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {'an integer' if kind is int else 'a number'}, got {text!r}"
                                             ) from None
        if limit(value):
            raise argparse.ArgumentTypeError(f"{limit.rule()}, got {text}")
        return value

    return parse


def finite_float(text: str) -> float:
    """An argparse type: a finite number (nan and inf are refused; the settings check the sign)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def md5_digest(text: str) -> str:
    """An argparse type: an md5 as 32 hex digits (what `md5sum FILE` prints first)."""
    if not re.fullmatch(r"[0-9a-fA-F]{32}", text):
        raise argparse.ArgumentTypeError(f"must be an md5: 32 hex digits, as `md5sum FILE` prints, got {text!r}")
    return text.lower()


def check_position(position: str) -> str:
    """The position, or the registry's one-line error, without importing torch."""
    if position not in POSITIONS:
        raise BlockzooError(f"unknown position '{position}'; use one of: {', '.join(POSITIONS)}")
    return position


def check_block_spec(spec: str, block_modules: Sequence[str] | None = None) -> str:
    """A block spec's form (Name or Name.variant), without importing torch; with block_modules given and empty
    (no --block-module), also that it names a built-in block. Whether a user's block is registered is later."""
    try:
        name, _ = split_block_spec(spec)
    except ValueError as exc:
        raise BlockzooError(str(exc)) from None
    if block_modules is not None and not block_modules and name not in BUILTIN_BLOCKS:
        import difflib

        close = difflib.get_close_matches(name, BUILTIN_BLOCKS, n=3, cutoff=0.4)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise BlockzooError(f"unknown block '{name}'; {hint}registered blocks: {', '.join(sorted(BUILTIN_BLOCKS))} "
                            "(a block of your own must be registered with @register_block in a module under "
                            "user_blocks/, or named with --block-module)")
    return spec


def check_output_file(path: str | os.PathLike | None, option: str) -> None:
    """Refuse, before any work, a file the command could not write at its end: a folder, a path through a
    file, a folder that cannot be written (the file is written atomically: beside it, then renamed)."""
    if path is None:
        return
    path = Path(path)
    if path.is_dir():
        raise BlockzooError(f"{option} {path} is a folder; give the path of a file to write (e.g. {path / 'out'})")
    _check_writable_folder(path.parent, option, path)


def check_output_dir(path: str | os.PathLike | None, option: str) -> None:
    """Refuse, before any work, a folder the command could not write into (it is created when missing)."""
    if path is None:
        return
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise BlockzooError(f"{option} {path} is a file, not a folder; give a folder (it is created if missing)")
    _check_writable_folder(path, option, path)


def check_input_file(path: str | os.PathLike | None, option: str, what: str, fix: str) -> None:
    """Refuse a file to read that is missing, a folder, or unreadable, naming the cause."""
    if path is None:
        return
    path = Path(path)
    if path.is_dir():
        raise BlockzooError(f"{option} {path} is a folder, not a {what}; give the file")
    if not path.is_file():
        raise BlockzooError(f"{what} {path} does not exist; {fix}")
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise BlockzooError(f"{what} {path} cannot be read ({exc.strerror}); check its permissions") from None


def _check_writable_folder(folder: Path, option: str, path: Path) -> None:
    existing = folder if str(folder) else Path(".")
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise BlockzooError(f"{option} {path}: {existing} is a file, not a folder; choose another path")
    try:  # a real write: permissions, read-only file systems and full disks all show here
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".blockzoo-write-check.")
    except OSError as exc:
        raise BlockzooError(f"{option} {path}: cannot write in {existing} ({exc.strerror}); "
                            "choose a folder you can write") from None
    os.close(fd)
    os.unlink(probe)


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


def check_cell_args(args: argparse.Namespace) -> None:
    """What a one-cell command can check without torch, at once: block spec, position, scaffold, output,
    block module files."""
    check_block_spec(args.block, args.block_module)
    check_position(args.position)
    scaffold_from_args(args)
    check_output_file(args.output, "--output")


def scaffold_from_args(args: argparse.Namespace):
    """The ScaffoldSpec the scaffold options name (checked; no torch), and the block module files checked to be
    files."""
    from blockzoo.data.catalogue import get_dataset_info

    for module in args.block_module:
        if str(module).endswith(".py"):
            check_input_file(module, "--block-module", "block module file",
                             "give a path to a .py file or an importable module name")
    params = scaffold_params(args.num_blocks, args.base_channels)
    if params > MAX_SCAFFOLD_PARAMS:
        raise BlockzooError(f"--num-blocks {args.num_blocks} with --base-channels {args.base_channels} makes a "
                            f"scaffold of about {params / 1e6:,.0f}M parameters (the baseline network; the "
                            f"benchmark's has 4.5M); at most {MAX_SCAFFOLD_PARAMS / 1e6:,.0f}M: choose fewer blocks or "
                            "channels")
    return ScaffoldSpec.for_dataset({name: getattr(args, name) for name in SCAFFOLD_OPTIONS},
                                    get_dataset_info(args.dataset))


def add_scaffold_options(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("scaffold (defaults are docs/blocks.md's)")
    for name, default in SCAFFOLD_OPTIONS.items():
        limit = ScaffoldSpec.limit(name)
        group.add_argument(f"--{name.replace('_', '-')}", type=bounded(limit), default=default, metavar="N",
                           help=f"{limit.low}-{limit.high}, default {default}")
    dataset = DataSettings().dataset
    group.add_argument("--dataset", default=dataset,
                       help=f"the dataset the network is for: its classes and channels (default {dataset})")
    p.add_argument("--block-module", action="append", default=[], metavar="MODULE",
                   help="a .py file, a folder of them or an importable module that registers blocks with "
                        "@register_block (repeatable)")


def cell_from_args(args: argparse.Namespace, block: str | None = None, position: str | None = None) -> "Cell":
    """The Cell the options name, after importing the user's block modules."""
    from blockzoo.blocks.registry import import_block_modules
    from blockzoo.cell import Cell

    scaffold = scaffold_from_args(args)
    import_block_modules(args.block_module)
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
