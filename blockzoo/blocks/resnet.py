"""ResNet blocks (timm). Both always carry a 1x1 projection shortcut, as in BlockZoo 0.3.0.

The variant `identity` keeps the projection only where the shapes change (channels or stride) and
uses an identity shortcut elsewhere, as standard ResNets do.
"""
from __future__ import annotations

from timm.models import resnet
from torch import nn

from blockzoo.blocks.registry import register_block

IDENTITY = {"identity": "identity shortcut where the shapes match; the projection only where they change"}


def _shortcut(in_channels: int, out_channels: int, stride: int, variant: str | None) -> nn.Module | None:
    if variant == "identity" and in_channels == out_channels and stride == 1:
        return None  # timm's blocks add the input itself when there is no downsample
    return resnet.downsample_avg(in_channels, out_channels, 1, stride=stride)


@register_block("ResNetBasicBlock", variants=IDENTITY)
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
