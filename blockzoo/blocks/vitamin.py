"""ViTamin's MBConv with LayerNorm (timm)."""
from __future__ import annotations

from timm.models import vitamin
from torch import nn

from blockzoo.blocks.registry import register_block


@register_block("MBConvLNBlock")
def mbconv_ln_block(in_channels: int, out_channels: int, stride: int, position: str) -> nn.Module:
    """ViTamin MBConv block with pre-LayerNorm and GELU; the position is ignored."""
    return vitamin.MbConvLNBlock(in_channels, out_channels, stride=stride)
