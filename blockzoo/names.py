"""Names shared by the library, the pipeline and its Hydra resolver: positions, the baseline, cells.

No torch here (the Hydra resolver in conf/hydra_plugins/ loads this file on its own).

A *block spec* is a registered block name, optionally with one of its variants: "InvertedResidual"
or "InvertedResidual.uniform". A *cell* is one network of the benchmark: a block spec placed at one
position of the scaffold, the other stages built from the baseline block. Its name is
"<block spec>-<position>", except for the network made of the baseline block alone, which is the
same at every position and is named after the baseline: "ResNetBasicBlock".
"""
from __future__ import annotations

import re

POSITIONS = ("early", "mid", "late")
BASELINE_BLOCK = "ResNetBasicBlock"
# The blocks blockzoo/blocks registers (a test keeps this equal to the registry): a command refuses any other
# name, without --block-module, before the seconds of importing torch and timm that the registry needs.
BUILTIN_BLOCKS = ("DYMicroBlock", "EdgeResidual", "GhostBottleneckV3", "InvertedResidual", "MBConvLNBlock",
                  "MobileOneBlock", "RepMixer", "ReparamLargeKernelConv", "ResNetBasicBlock", "ResNetBottleneck",
                  "UniversalInvertedBottleneck")
ALL_BLOCKS = "all"  # the value of the `block` setting that selects the whole zoo

BLOCK_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BLOCK_SPEC = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:\.(?P<variant>[A-Za-z_][A-Za-z0-9_]*))?")


def split_block_spec(spec: str) -> tuple[str, str | None]:
    """("InvertedResidual", "uniform") from "InvertedResidual.uniform"; ValueError when it is not a block spec."""
    match = _BLOCK_SPEC.fullmatch(str(spec))
    if match is None:
        raise ValueError(f"'{spec}' is not a block name (letters, digits and _, optionally .variant)")
    return match["name"], match["variant"]


def block_spec(name: str, variant: str | None) -> str:
    return name if not variant else f"{name}.{variant}"


def cell_name(spec: str, position: str | None) -> str:
    """The cell of block `spec` at `position`; the baseline network (the baseline block in its default
    form, at any position or none) is one cell named after the baseline."""
    if spec == BASELINE_BLOCK or position is None:
        return spec
    return f"{spec}-{position}"


def is_macro_cell(name: str) -> bool:
    """A macro architecture's cell: a BLOX network (blox-II-JJ-KK) or a zoo network of blocks A+B+C."""
    return str(name).startswith("blox-") or "+" in str(name)


def parse_cell(name: str) -> tuple[str, str | None]:
    """(block spec, position or None) of a block cell's name; ValueError when it is not one."""
    if is_macro_cell(name):
        raise ValueError(f"cell '{name}' is a macro architecture, not a block at a position")
    spec, _, position = str(name).rpartition("-")
    if not spec:
        spec, position = name, None
    split_block_spec(spec)
    if position is not None and position not in POSITIONS:
        raise ValueError(f"cell '{name}' names no position ({', '.join(POSITIONS)})")
    if position is None and spec != BASELINE_BLOCK:
        raise ValueError(f"cell '{name}' names no position; only the baseline network {BASELINE_BLOCK} has none")
    return spec, position


def pipeline_cells(zoo, block: str, positions, block_settings=None) -> list[str]:
    """The cells a pipeline run measures, each distinct network once, the baseline network first.

    zoo: the benchmarked block names; block: "all" for the whole zoo, or one block name, measured
    beside the baseline; positions: where each block is placed; block_settings: per-block settings,
    whose `variant` picks the variant of that block measured.
    """
    block_settings = block_settings or {}
    blocks = list(zoo) if block == ALL_BLOCKS else [block]
    cells = [BASELINE_BLOCK]
    for name in blocks:
        variant = (block_settings.get(name) or {}).get("variant")
        for position in positions:
            cell = cell_name(block_spec(str(name), variant), str(position))
            if cell not in cells:
                cells.append(cell)
    return cells


def check_measures_something(cells, positions, macro_cells) -> None:
    """A one-line error for a run that measures no block at a position and no macro architecture (the
    baseline network alone, at no position)."""
    if len(cells) < 2 and not positions and not macro_cells:
        from blockzoo.errors import BlockzooError

        raise BlockzooError("positions is empty and there is no macro architecture, so this run measures nothing; "
                            "list positions (e.g. positions=[mid]), or macro architectures in macro.archs")

