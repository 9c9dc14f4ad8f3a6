"""ScaffoldNet: the fixed network every block is measured in (docs/blocks.md).

stem (3x3 conv, BN, ReLU) -> early (C, stride 1) -> mid (2C, stride 2) -> late (4C, stride 2) -> head.
The stage under test is built from the block under test; the other two from the baseline block.
The macro form takes one block per stage.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from blockzoo.blocks.registry import check_position, create_block, get_block
from blockzoo.errors import BlockzooError
from blockzoo.names import BASELINE_BLOCK, POSITIONS
from blockzoo.settings import ScaffoldSpec

STAGE_STRIDES = {"early": 1, "mid": 2, "late": 2}
STAGE_WIDTH_MULTIPLIERS = {"early": 1, "mid": 2, "late": 4}


class ScaffoldNet(nn.Module):
    """The benchmark network.

    Micro form: ``ScaffoldNet("GhostBottleneckV3", "mid")`` puts the block under test in the mid
    stage and baseline blocks elsewhere (position None: the baseline network). Macro form:
    ``ScaffoldNet.macro(["A", "B", "C"])`` puts one block per stage (early, mid, late). The shape
    comes from `spec` (a ScaffoldSpec), or from its fields as keywords: ``num_blocks=1``.
    """

    def __init__(self, block: str = BASELINE_BLOCK, position: str | None = "mid", spec: ScaffoldSpec | None = None, *,
                 stage_blocks: Sequence[str] | None = None, **spec_fields) -> None:
        super().__init__()
        spec = spec.replace(**spec_fields) if spec is not None else ScaffoldSpec(**spec_fields)
        if stage_blocks is None:
            if position is not None:
                check_position(position)
            stage_blocks = [block if stage == position else BASELINE_BLOCK for stage in POSITIONS]
        if len(stage_blocks) != len(POSITIONS):
            raise BlockzooError(f"a macro architecture needs one block per stage ({len(POSITIONS)}: early, mid, late), "
                                f"got {len(stage_blocks)}")
        for stage_block in stage_blocks:
            get_block(stage_block)  # unknown names fail before anything is built

        self.spec = spec
        self.stage_blocks = tuple(stage_blocks)
        self.num_blocks = spec.num_blocks
        width = spec.base_channels
        self.stem = nn.Sequential(
            nn.Conv2d(spec.in_chans, width, 3, stride=1, padding=1, bias=True),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        channels = width
        for stage, stage_block in zip(POSITIONS, stage_blocks, strict=True):
            out_channels = width * STAGE_WIDTH_MULTIPLIERS[stage]
            self.add_module(stage, _make_stage(stage_block, stage, channels, out_channels, STAGE_STRIDES[stage],
                                               spec.num_blocks))
            channels = out_channels
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, spec.num_classes))

    @classmethod
    def macro(cls, stage_blocks: Sequence[str], spec: ScaffoldSpec | None = None, **spec_fields) -> "ScaffoldNet":
        """One block per stage, in the order early, mid, late."""
        return cls(spec=spec, stage_blocks=list(stage_blocks), **spec_fields)

    def stages(self) -> dict[str, nn.Module]:
        return {stage: getattr(self, stage) for stage in POSITIONS}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.early(x)
        x = self.mid(x)
        x = self.late(x)
        return self.head(x)


def _make_stage(block: str, position: str, in_channels: int, out_channels: int, stride: int,
                num_blocks: int) -> nn.Sequential:
    """The first block does the transition (channels and stride); the rest are out->out, stride 1."""
    blocks = [create_block(block, in_channels, out_channels, stride, position)]
    blocks += [create_block(block, out_channels, out_channels, 1, position) for _ in range(num_blocks - 1)]
    return nn.Sequential(*blocks)
