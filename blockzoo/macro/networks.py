"""Macro architectures as the benchmark's cells (the networks it measures): ZooMacroCell (one zoo block per
stage) and BloxMacroCell (a BLOX architecture, whose stages hold BLOX cells), with the interface of
blockzoo.cell.Cell (name, scaffold, build, record), so that the profile, benchmark and train of the pipeline
measure them as they measure a block's cells. macro_cell(name) is the cell of a name."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from blockzoo import results
from blockzoo.cell import Cell, check_block_contract
from blockzoo.macro import blox
from blockzoo.macro.bloxnet import BloxNet
from blockzoo.macro.space import BloxSpace, ZooSpace, network_name
from blockzoo.names import POSITIONS, is_macro_cell
from blockzoo.scaffold import ScaffoldNet
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
        net = ScaffoldNet.macro(self.stages, self.scaffold)
        check_block_contract(net)
        return net

    def record(self, section: str, values: dict, seed: int | None = None) -> dict:
        return _record(self, json.dumps(list(self.stages)), section, values, seed)


@dataclass(frozen=True)
class BloxMacroCell:
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
        return BloxNet(self.arch, num_classes=self.scaffold.num_classes, in_chans=self.scaffold.in_chans,
                       width=self.width)

    def record(self, section: str, values: dict, seed: int | None = None) -> dict:
        return _record(self, json.dumps(blox.nested(self.arch)), section, values, seed)


def _record(cell, arch: str, section: str, values: dict, seed: int | None) -> dict:
    scaffold = cell.scaffold.to_dict()
    if cell.space == "blox":  # one BLOX cell and a Reduction per stage, `width` channels after the stem
        scaffold.update(num_blocks=1, base_channels=cell.width)
    record = {"cell": cell.name, "space": cell.space, "arch": arch, "seed": seed, "scaffold": scaffold,
              section: values}
    results.validate(record)
    return record


def macro_cell(name: str, scaffold: ScaffoldSpec, blox_width: int = 32):
    """The cell of a macro architecture's name: blox-II-JJ-KK, A+B+C, or a block cell's name (a zoo network that
    differs from the baseline network in one stage at most)."""
    if name.startswith("blox-"):
        return BloxMacroCell(BloxSpace().parse(name), scaffold, blox_width)
    if not is_macro_cell(name):
        return Cell.from_name(name, scaffold)
    return ZooMacroCell(ZooSpace(()).parse(name), scaffold)
