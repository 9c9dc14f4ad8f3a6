"""A trained ScaffoldNet whose blocks can be executed or skipped per image (docs/blockdrop.md).

A skipped block falls back to its own shortcut path: the projection of the ResNet blocks and of the
MBConv/Ghost blocks that have one, the identity of the shape-keeping residual blocks; never to a bare
identity in place of a learned shortcut. A block whose shortcut cannot be separated from it (no residual,
or a strided unit without a shortcut: MobileOne, RepMixer, ReparamLargeKernelConv, the strided
inverted residuals) stays always on; or, with fallback="parameter-free", falls back to an average
pool with the block's stride and zero-padded channels (as BlockDrop's own CIFAR ResNets), an option
whose accuracy cost is measured, not assumed.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from blockzoo.blocks.micronet import DYMicroBlock
from blockzoo.blocks.resnet import ParameterFreeShortcut
from blockzoo.scaffold import STAGE_STRIDES, STAGE_WIDTH_MULTIPLIERS, ScaffoldNet

FALLBACKS = ("shortcut", "parameter-free")


def block_shortcut(block: nn.Module) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The block's own shortcut path as a function, or None when it has none separable from the block."""
    from timm.models import _efficientnet_blocks as effnet
    from timm.models import ghostnet, resnet, vitamin

    if isinstance(block, (resnet.BasicBlock, resnet.Bottleneck)):
        return block.downsample if block.downsample is not None else nn.Identity()
    if isinstance(block, (effnet.InvertedResidual, effnet.UniversalInvertedResidual, effnet.EdgeResidual)):
        return nn.Identity() if block.has_skip else None
    if isinstance(block, (ghostnet.GhostBottleneckV3, vitamin.MbConvLNBlock)):
        return block.shortcut
    if isinstance(block, DYMicroBlock):
        return nn.Identity() if block.has_residual else None
    return None


@dataclass(frozen=True)
class Unit:
    """One block of the scaffold: where it is, and how it is skipped (None: it cannot be)."""

    stage: str
    index: int
    block: nn.Module
    shortcut: nn.Module | None

    @property
    def name(self) -> str:
        return f"{self.stage}.{self.index}"


class DroppableNet(nn.Module):
    """`net`'s blocks, each executed or replaced by its shortcut per image; K = len(self.droppable).

    forward(x, keep): keep is (N, K) of 0/1 (None: every block on). A block that the whole batch keeps
    or drops is computed, or not, for the batch; for a mixed batch both paths are computed and mixed per
    image (the gated execution BlockDrop trains with). forward_skipping() runs images one by one, really
    skipping the dropped blocks, as at test time.
    """

    def __init__(self, net: ScaffoldNet, fallback: str = "shortcut"):
        super().__init__()
        if fallback not in FALLBACKS:
            raise ValueError(f"fallback must be one of {FALLBACKS}, got {fallback!r}")
        self.net, self.fallback = net, fallback
        units = []  # the blocks are net's own modules; the parameter-free shortcuts hold no tensors
        width = net.spec.base_channels
        channels = width
        for stage, blocks in net.stages().items():
            out = width * STAGE_WIDTH_MULTIPLIERS[stage]
            for index, block in enumerate(blocks):
                shortcut = block_shortcut(block)
                if shortcut is None and fallback == "parameter-free":
                    stride = STAGE_STRIDES[stage] if index == 0 else 1
                    shortcut = ParameterFreeShortcut(channels if index == 0 else out, out, stride)
                units.append(Unit(stage, index, block, shortcut))
            channels = out
        self.units = units
        self.droppable = [i for i, unit in enumerate(units) if unit.shortcut is not None]

    @property
    def num_droppable(self) -> int:
        return len(self.droppable)

    def droppable_names(self) -> list[str]:
        return [self.units[i].name for i in self.droppable]

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        x = self.net.stem(x)
        column = {unit_index: k for k, unit_index in enumerate(self.droppable)}
        for i, unit in enumerate(self.units):
            if keep is None or i not in column:
                x = unit.block(x)
                continue
            a = keep[:, column[i]]
            if bool(a.all()):
                x = unit.block(x)
            elif not bool(a.any()):
                x = unit.shortcut(x)
            else:
                a = a.view(-1, 1, 1, 1).to(x.dtype)
                x = a * unit.block(x) + (1 - a) * unit.shortcut(x)
        return self.net.head(x)

    @torch.no_grad()
    def forward_skipping(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """Image by image, each dropped block not computed at all: what the test-time measurements time."""
        outputs = []
        column = {unit_index: k for k, unit_index in enumerate(self.droppable)}
        for image, decisions in zip(x, keep, strict=True):
            y = self.net.stem(image[None])
            for i, unit in enumerate(self.units):
                y = unit.shortcut(y) if i in column and not decisions[column[i]] else unit.block(y)
            outputs.append(self.net.head(y))
        return torch.cat(outputs)
