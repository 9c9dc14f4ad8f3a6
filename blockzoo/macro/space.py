"""The two macro spaces behind one interface: BLOX (blox.py) and the zoo's (one zoo block per scaffold stage).

Both list, sample with a seed, canonicalise, name (a stable id that is also the pipeline cell's name),
build and describe in words. An architecture of the zoo space is a tuple of three block specs (early,
mid, late); one that differs from the baseline network in one stage at most is a cell of the block
benchmark, and is named like it ("InvertedResidual-early"), so its results are found, not retrained.
No torch at import.
"""
from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Sequence

from blockzoo.errors import BlockzooError
from blockzoo.macro import blox
from blockzoo.names import BASELINE_BLOCK, POSITIONS, cell_name, split_block_spec

ZOO_SEPARATOR = "+"


class BloxSpace:
    name = "blox"

    def parse(self, value) -> blox.Arch:
        if isinstance(value, str) and value.startswith("blox-"):
            return blox.from_id(value)
        return blox.canonical(value)

    def id(self, arch) -> str:
        return blox.arch_id(arch)

    def vector(self, arch) -> list:
        return blox.nested(arch)

    def describe(self, arch) -> str:
        return blox.describe(arch)

    def __iter__(self) -> Iterator[blox.Arch]:
        return blox.all_archs()

    def __len__(self) -> int:
        return len(blox.unique_blox_cells()) ** blox.STAGES

    def sample(self, n: int, seed: int) -> list[blox.Arch]:
        """n distinct architectures, uniform over the unique ones, reproducible from the seed."""
        blox_cells = blox.unique_blox_cells()
        k = len(blox_cells)
        indices = random.Random(seed).sample(range(len(self)), _checked_count(n, len(self)))
        return [tuple(blox_cells[i // k ** p % k] for p in (2, 1, 0)) for i in indices]

    def build(self, arch, num_classes: int = 100, in_chans: int = 3):
        from blockzoo.macro.bloxnet import BloxNet

        return BloxNet(arch, num_classes=num_classes, in_chans=in_chans)


class ZooSpace:
    """One block spec per stage of ScaffoldNet; `blocks` are the choices (the zoo)."""

    name = "zoo"

    def __init__(self, blocks: Sequence[str]):
        self.blocks = list(dict.fromkeys(blocks))

    def parse(self, value) -> tuple[str, str, str]:
        if isinstance(value, str):
            value = [part.strip() for part in value.replace(ZOO_SEPARATOR, ",").split(",")]
        if not isinstance(value, (list, tuple)) or len(value) != len(POSITIONS):
            raise BlockzooError(f"a zoo macro architecture is one block per stage ({len(POSITIONS)}: early, mid, "
                                f"late), e.g. InvertedResidual,RepMixer,ResNetBottleneck; got {value!r}")
        for spec in value:
            try:
                split_block_spec(spec)
            except ValueError as exc:
                raise BlockzooError(str(exc)) from None
        return tuple(value)

    def id(self, arch) -> str:
        return network_name(self.parse(arch))

    def vector(self, arch) -> list[str]:
        return list(self.parse(arch))

    def describe(self, arch) -> str:
        return " | ".join(self.parse(arch))

    def __iter__(self) -> Iterator[tuple[str, str, str]]:
        return itertools.product(self.blocks, repeat=len(POSITIONS))

    def __len__(self) -> int:
        return len(self.blocks) ** len(POSITIONS)

    def sample(self, n: int, seed: int) -> list[tuple[str, str, str]]:
        indices = random.Random(seed).sample(range(len(self)), _checked_count(n, len(self)))
        k = len(self.blocks)
        return [tuple(self.blocks[i // k ** p % k] for p in (2, 1, 0)) for i in indices]

    def build(self, arch, num_classes: int = 100, in_chans: int = 3, **scaffold):
        from blockzoo.scaffold import ScaffoldNet

        return ScaffoldNet.macro(self.parse(arch), num_classes=num_classes, in_chans=in_chans, **scaffold)


def network_name(stages: Sequence[str]) -> str:
    """The name of the zoo network with these blocks per stage: a cell of the block benchmark when it differs
    from the baseline network in one stage at most, else 'A+B+C'."""
    different = [(stage, spec) for stage, spec in zip(POSITIONS, stages, strict=True) if spec != BASELINE_BLOCK]
    if not different:
        return BASELINE_BLOCK
    if len(different) == 1:
        position, spec = different[0]
        return cell_name(spec, position)
    return ZOO_SEPARATOR.join(stages)


def macro_cells(macro, zoo: Sequence[str], block_cells: Sequence[str] = ()) -> list[str]:
    """The cells of the `macro` settings: its explicit architectures, then its seeded sample, each once, and
    none that is already a block cell of the run (its results are that cell's: nothing is trained twice)."""
    cells = []
    for arch in macro.get("archs") or ():
        blox_arch = not isinstance(arch, str) or arch.startswith("blox-") or arch.lstrip().startswith("[")
        space = BloxSpace() if blox_arch else ZooSpace(zoo)
        cells.append(space.id(space.parse(arch)))
    if macro.get("sample"):
        space = space_of(macro.get("sample_space", "blox"), zoo)
        cells += [space.id(arch) for arch in space.sample(macro["sample"], macro.get("seed", 0))]
    return [cell for cell in dict.fromkeys(cells) if cell not in block_cells]


def space_of(name: str, zoo: Sequence[str] = ()) -> BloxSpace | ZooSpace:
    if name == "blox":
        return BloxSpace()
    if name == "zoo":
        return ZooSpace(zoo)
    raise BlockzooError(f"unknown macro space '{name}'; use blox or zoo")


def _checked_count(n: int, size: int) -> int:
    if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= size:
        raise BlockzooError(f"cannot sample {n!r} distinct architectures from a space of {size}; give 0 to {size}")
    return n
