"""Macro architectures as cells: the same interface as blockzoo.cell.Cell (name, scaffold, build, record), so
that the profile, benchmark and train of the pipeline measure them as they measure a block's cells."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from blockzoo import results
from blockzoo.macro import blox
from blockzoo.macro.space import BloxSpace, ZooSpace, network_name
from blockzoo.names import POSITIONS, is_macro_cell
from blockzoo.settings import ScaffoldSpec


@dataclass(frozen=True)
class ZooMacroCell:
    """ScaffoldNet with one block spec per stage (early, mid, late)."""

    stages: tuple[str, str, str]
    scaffold: ScaffoldSpec = field(default_factory=ScaffoldSpec)
    space = "zoo"
    block = None
    position = None

    @property
    def name(self) -> str:
        return network_name(self.stages)

    def stage_blocks(self) -> dict[str, str]:
        return dict(zip(POSITIONS, self.stages, strict=True))

    def build(self):
        from blockzoo.cell import check_block_contract
        from blockzoo.scaffold import ScaffoldNet

        net = ScaffoldNet.macro(self.stages, self.scaffold)
        check_block_contract(net)
        return net

    def record(self, section: str, values: dict, seed: int | None = None) -> dict:
        return _record(self, json.dumps(list(self.stages)), section, values, seed)


@dataclass(frozen=True)
class BloxCell:
    """A network of the BLOX space; `scaffold` gives its classes, channels and input size, `width` its stem width."""

    arch: blox.Arch
    scaffold: ScaffoldSpec = field(default_factory=ScaffoldSpec)
    width: int = 32
    space = "blox"
    block = None
    position = None

    @property
    def name(self) -> str:
        return blox.arch_id(self.arch)

    def stage_blocks(self) -> dict[str, str]:
        return {}  # no zoo block: BLOX's own operations (blockzoo/macro/bloxnet.py)

    def build(self):
        from blockzoo.macro.bloxnet import BloxNet

        return BloxNet(self.arch, num_classes=self.scaffold.num_classes, in_chans=self.scaffold.in_chans,
                       width=self.width)

    def record(self, section: str, values: dict, seed: int | None = None) -> dict:
        return _record(self, json.dumps(blox.nested(self.arch)), section, values, seed)


def _record(cell, arch: str, section: str, values: dict, seed: int | None) -> dict:
    scaffold = cell.scaffold.to_dict()
    if cell.space == "blox":  # one cell and a Reduction per stage, `width` channels after the stem
        scaffold.update(num_blocks=1, base_channels=cell.width)
    record = {"cell": cell.name, "space": cell.space, "arch": arch, "seed": seed, "scaffold": scaffold,
              section: values}
    results.validate(record)
    return record


def macro_cell(name: str, scaffold: ScaffoldSpec, blox_width: int = 32):
    """The cell of a macro architecture's name: blox-II-JJ-KK, A+B+C, or a block cell's name (a zoo network that
    differs from the baseline network in one stage at most)."""
    if name.startswith("blox-"):
        return BloxCell(BloxSpace().parse(name), scaffold, blox_width)
    if not is_macro_cell(name):
        from blockzoo.cell import Cell

        return Cell.from_name(name, scaffold)
    return ZooMacroCell(ZooSpace(()).parse(name), scaffold)
