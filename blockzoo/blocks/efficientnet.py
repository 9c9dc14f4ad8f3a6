"""MobileNet / EfficientNet family blocks (timm's _efficientnet_blocks).

The expansion ratio and activation depend on the position, as in BlockZoo 0.3.0: this
confounds the position comparison (a known weakness, kept as the default). The variant
`uniform` builds every position with the mid stage's configuration instead.
"""
from __future__ import annotations

from functools import partial

from timm.layers import SqueezeExcite
from timm.models import _efficientnet_blocks as effnet
from torch import nn

from blockzoo.blocks.registry import register_block

UNIFORM = {"uniform": "the mid stage's configuration at every position (no position-dependent hyperparameters)"}


def _configured_position(position: str, variant: str | None) -> str:
    return "mid" if variant == "uniform" else position


def _exp_ratio(position: str) -> float:
    return 6.0 if position == "late" else 4.0


@register_block("InvertedResidual", variants=UNIFORM)
def inverted_residual(
    in_channels: int, out_channels: int, stride: int, position: str, variant: str | None = None
) -> nn.Module:
    """MobileNetV2/V3 inverted residual (1x1 expand, 3x3 depthwise, 1x1 project); ReLU early, Hardswish otherwise."""
    position = _configured_position(position, variant)
    act_layer = nn.ReLU if position == "early" else nn.Hardswish
    return effnet.InvertedResidual(
        in_channels, out_channels, stride=stride, exp_ratio=_exp_ratio(position), act_layer=act_layer
    )


@register_block("UniversalInvertedBottleneck", variants=UNIFORM)
def universal_inverted_bottleneck(in_channels: int, out_channels: int, stride: int, position: str,
                                  variant: str | None = None) -> nn.Module:
    """MobileNetV4 universal inverted bottleneck; at timm defaults the plain IB variant (kernels 0/3/0)."""
    position = _configured_position(position, variant)
    return effnet.UniversalInvertedResidual(
        in_channels, out_channels, stride=stride, exp_ratio=_exp_ratio(position)
    )


@register_block("EdgeResidual", variants=UNIFORM)
def edge_residual(
    in_channels: int, out_channels: int, stride: int, position: str, variant: str | None = None
) -> nn.Module:
    """EfficientNetV2 fused-MBConv (3x3 expand conv, 1x1 project); squeeze-excite (rd 0.25) only when late."""
    position = _configured_position(position, variant)
    se_layer = partial(SqueezeExcite, rd_ratio=0.25) if position == "late" else None
    return effnet.EdgeResidual(
        in_channels, out_channels, stride=stride, exp_ratio=_exp_ratio(position), se_layer=se_layer
    )
