"""GhostNetV3 bottleneck (timm), re-parameterisable."""
from __future__ import annotations

from timm.models import ghostnet
from torch import nn

from blockzoo.blocks.registry import register_block


@register_block("GhostBottleneckV3", variants={"uniform": "3x wider middle and no squeeze-excite at every position "
                                                          "(the mid stage's configuration)"})
def ghost_bottleneck_v3(in_channels: int, out_channels: int, stride: int, position: str,
                        variant: str | None = None) -> nn.Module:
    """GhostNetV3 bottleneck: mid channels 3x input (5x when late); squeeze-excite 0.25 only when late."""
    late = position == "late" and variant != "uniform"
    mid_channels = in_channels * (5 if late else 3)
    return ghostnet.GhostBottleneckV3(
        in_channels, mid_channels, out_channels, stride=stride, se_ratio=0.25 if late else 0.0
    )
