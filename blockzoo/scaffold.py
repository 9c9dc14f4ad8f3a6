"""ScaffoldNet: the fixed network every block is measured in (see shared/BLOCKS.md).

stem (3x3 conv, BN, ReLU) -> early (C, stride 1) -> mid (2C, stride 2) -> late (4C, stride 2) -> head.
The stage under test is built from the block under test; the other two from the baseline block.
The macro form takes one block per stage.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from blockzoo.blocks.registry import POSITIONS, check_position, create_block, get_block
from blockzoo.errors import BlockzooError
from blockzoo.names import BASELINE_BLOCK

STAGE_STRIDES = {"early": 1, "mid": 2, "late": 2}
STAGE_WIDTH_MULTIPLIERS = {"early": 1, "mid": 2, "late": 4}


class ScaffoldNet(nn.Module):
    """The benchmark network.

    Micro form: ``ScaffoldNet("GhostBottleneckV3", "mid")`` puts the block under test in the mid
    stage and baseline blocks elsewhere. Macro form: ``ScaffoldNet.macro(["A", "B", "C"])``
    puts one block per stage (early, mid, late).
    """

    def __init__(
        self,
        block: str = BASELINE_BLOCK,
        position: str = "mid",
        *,
        num_blocks: int = 3,
        base_channels: int = 64,
        num_classes: int = 100,
        in_chans: int = 3,
        baseline: str = BASELINE_BLOCK,
        stage_blocks: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        if stage_blocks is None:
            check_position(position)
            stage_blocks = [block if stage == position else baseline for stage in POSITIONS]
        if len(stage_blocks) != len(POSITIONS):
            raise BlockzooError(
                f"a macro architecture needs one block per stage ({len(POSITIONS)}: early, mid, late), got {len(stage_blocks)}"
            )
        for name, value in (("num_blocks", num_blocks), ("base_channels", base_channels), ("num_classes", num_classes), ("in_chans", in_chans)):
            if not isinstance(value, int) or value < 1:
                raise BlockzooError(f"{name} must be a positive integer, got {value!r}")
        for stage_block in stage_blocks:
            get_block(stage_block)  # unknown names fail before anything is built

        self.stage_blocks = tuple(stage_blocks)
        self.num_blocks = num_blocks
        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, base_channels, 3, stride=1, padding=1, bias=True),
            nn.BatchNorm2d(base_channels),
            nn.ReLU(inplace=True),
        )
        channels = base_channels
        for stage, stage_block in zip(POSITIONS, stage_blocks):
            out_channels = base_channels * STAGE_WIDTH_MULTIPLIERS[stage]
            self.add_module(stage, _make_stage(stage_block, stage, channels, out_channels, STAGE_STRIDES[stage], num_blocks))
            channels = out_channels
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))

    @classmethod
    def macro(cls, stage_blocks: Sequence[str], **kwargs) -> "ScaffoldNet":
        """One block per stage, in the order early, mid, late."""
        return cls(stage_blocks=list(stage_blocks), **kwargs)

    def stages(self) -> dict[str, nn.Module]:
        return {stage: getattr(self, stage) for stage in POSITIONS}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.early(x)
        x = self.mid(x)
        x = self.late(x)
        return self.head(x)


def _make_stage(block: str, position: str, in_channels: int, out_channels: int, stride: int, num_blocks: int) -> nn.Sequential:
    """The first block does the transition (channels and stride); the rest are out->out, stride 1."""
    blocks = [create_block(block, in_channels, out_channels, stride, position)]
    blocks += [create_block(block, out_channels, out_channels, 1, position) for _ in range(num_blocks - 1)]
    return nn.Sequential(*blocks)
