"""FastViT's re-parameterisable blocks (timm). Each has a deploy form via reparameterize_model."""
from __future__ import annotations

from timm.models import fastvit
from torch import nn

from blockzoo.blocks.registry import register_block


@register_block("MobileOneBlock")
def mobileone_block(in_channels: int, out_channels: int, stride: int, position: str) -> nn.Module:
    """MobileOne block: 3x3 conv + 1x1 conv + BN-identity branches, fused into one 3x3 conv at deploy."""
    return fastvit.MobileOneBlock(in_channels, out_channels, kernel_size=3, stride=stride)


@register_block("ReparamLargeKernelConv")
def reparam_large_kernel_conv(in_channels: int, out_channels: int, stride: int, position: str) -> nn.Module:
    """Depthwise 7x7 conv with a parallel 3x3 branch, fused at deploy; GELU. No channel mixing, no residual."""
    return fastvit.ReparamLargeKernelConv(
        in_channels, out_channels, kernel_size=7, stride=stride, group_size=1, small_kernel=3, act_layer=nn.GELU
    )


@register_block("RepMixer")
def repmixer(in_channels: int, out_channels: int, stride: int, position: str) -> nn.Module:
    """FastViT stage of depth 1: PatchEmbed (downsample) then a RepMixer token mixer and a ConvMLP (ratio 4)."""
    return fastvit.FastVitStage(
        dim=in_channels,
        dim_out=out_channels,
        depth=1,
        token_mixer_type="repmixer",
        mlp_ratio=4.0,
        down_stride=stride,
        drop_path_rate=[0.0],
    )
