"""ResNet blocks (timm). Both always carry a 1x1 projection shortcut, as in BlockZoo 0.3.0.

The variant `identity` keeps the projection only where the shapes change (channels or stride) and
uses an identity shortcut elsewhere, as standard ResNets do. The variant `cifar` is BlockDrop's (and He et
al.'s CIFAR ResNets', option A) BasicBlock: an identity shortcut where the shapes match, and where they change a
parameter-free one (average pool with the stride, then zero-padded channels): no 1x1 projection anywhere.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from timm.models import resnet
from torch import nn

from blockzoo.blocks.registry import register_block

IDENTITY = {"identity": "identity shortcut where the shapes match; the projection only where they change"}
CIFAR = {"cifar": "BlockDrop's / He et al.'s CIFAR block: identity shortcut, parameter-free (average pool, "
                  "zero-padded channels) where the shapes change"}


class ParameterFreeShortcut(nn.Module):
    """Average pool with the stride, then zero-padded channels: BlockDrop's shortcut of a transition block."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.stride, self.extra = stride, out_channels - in_channels
        if self.extra < 0:
            raise ValueError(f"a parameter-free shortcut cannot shrink {in_channels} channels to {out_channels}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = F.avg_pool2d(x, self.stride, self.stride, ceil_mode=True, count_include_pad=False)
        return F.pad(x, (0, 0, 0, 0, 0, self.extra)) if self.extra else x


def _shortcut(in_channels: int, out_channels: int, stride: int, variant: str | None) -> nn.Module | None:
    if variant in ("identity", "cifar") and in_channels == out_channels and stride == 1:
        return None  # timm's blocks add the input itself when there is no downsample
    if variant == "cifar":
        return ParameterFreeShortcut(in_channels, out_channels, stride)
    return resnet.downsample_avg(in_channels, out_channels, 1, stride=stride)


@register_block("ResNetBasicBlock", variants={**IDENTITY, **CIFAR})
def resnet_basic_block(in_channels: int, out_channels: int, stride: int, position: str,
                       variant: str | None = None) -> nn.Module:
    """ResNet BasicBlock (two 3x3 convs) with an avg-pool + 1x1 projection shortcut on every block."""
    downsample = _shortcut(in_channels, out_channels, stride, variant)
    return resnet.BasicBlock(in_channels, out_channels, stride=stride, downsample=downsample)


@register_block("ResNetBottleneck", variants=IDENTITY)
def resnet_bottleneck(in_channels: int, out_channels: int, stride: int, position: str,
                      variant: str | None = None) -> nn.Module:
    """ResNet Bottleneck (1x1-3x3-1x1, expansion 4) with an avg-pool + 1x1 projection shortcut on every block."""
    downsample = _shortcut(in_channels, out_channels, stride, variant)
    return resnet.Bottleneck(in_channels, out_channels // 4, stride=stride, downsample=downsample)
