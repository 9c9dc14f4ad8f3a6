"""ResNet blocks (timm). Both always carry a 1x1 projection shortcut, as in BlockZoo 0.3.0."""
from __future__ import annotations

from timm.models import resnet
from torch import nn

from blockzoo.blocks.registry import register_block


@register_block("ResNetBasicBlock")
def resnet_basic_block(in_channels: int, out_channels: int, stride: int, position: str) -> nn.Module:
    """ResNet BasicBlock (two 3x3 convs) with an avg-pool + 1x1 projection shortcut on every block."""
    downsample = resnet.downsample_avg(in_channels, out_channels, 1, stride=stride)
    return resnet.BasicBlock(in_channels, out_channels, stride=stride, downsample=downsample)


@register_block("ResNetBottleneck")
def resnet_bottleneck(in_channels: int, out_channels: int, stride: int, position: str) -> nn.Module:
    """ResNet Bottleneck (1x1-3x3-1x1, expansion 4) with an avg-pool + 1x1 projection shortcut on every block."""
    downsample = resnet.downsample_avg(in_channels, out_channels, 1, stride=stride)
    return resnet.Bottleneck(in_channels, out_channels // 4, stride=stride, downsample=downsample)
