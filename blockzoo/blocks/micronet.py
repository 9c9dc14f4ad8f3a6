"""MicroNet block (Li et al., "MicroNet: Improving Image Recognition with Extremely Low FLOPs", ICCV 2021).

Not in timm and never in BlockZoo 0.3.0's code: this is our own implementation of the paper's
Micro-Block-B, the self-contained form (expanding micro-factorised depthwise conv, then a
micro-factorised pointwise conv that compresses and re-expands), adapted to the uniform
interface ``DYMicroBlock(in_channels, out_channels, stride, position)``::

    x ─ MicroDepthwise ─ DYShiftMax ─ MicroPointwise ─ (+ x when in == out and stride == 1)
        (in -> hidden)               (hidden -> mid, DYShiftMax, shuffle, mid -> out)

The position is ignored: the block is the same in every stage, so it does not add to the
position confound of the blocks whose hyperparameters depend on it.
"""
from __future__ import annotations

import math
from fractions import Fraction

import torch
from torch import Tensor, nn

from blockzoo.blocks.registry import check_position, register_block


def sqrt_divisor(channels: int, square: int) -> int:
    """The divisor d of `channels` with d * d closest to `square` (ratio-wise; ties go to the smaller d).

    Used for group counts: the paper's rule G = sqrt(C / R) rarely divides the channels
    exactly, and a group count must divide both sides of its convolution. Exact integer
    arithmetic, so the choice does not depend on float rounding. 1 always divides: never fails.
    """
    divisors = [d for d in range(1, channels + 1) if channels % d == 0]
    return min(divisors, key=lambda d: (Fraction(max(d * d, square), min(d * d, square)), d))


def pointwise_groups(in_channels: int, mid_channels: int, out_channels: int) -> tuple[int, int]:
    """Group counts (G1, G2) of the compress (in -> mid) and expand (mid -> out) 1x1 convs.

    Paper's rule: G ~ sqrt(mid) for both, so that G1 * G2 ~ mid and every output channel is
    connected to every input channel about once (the "lossless" minimum connectivity).
    G1 must divide in and mid, G2 must divide mid and out: each is the divisor of the gcd
    nearest to sqrt(mid).
    """
    g1 = sqrt_divisor(math.gcd(in_channels, mid_channels), mid_channels)
    g2 = sqrt_divisor(math.gcd(mid_channels, out_channels), mid_channels)
    return g1, g2


class ChannelShuffle(nn.Module):
    """ShuffleNet channel shuffle: (g, C/g) -> (C/g, g) regrouping of the channel axis; a permutation."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: Tensor) -> Tensor:
        return x.unflatten(1, (self.groups, -1)).transpose(1, 2).flatten(1, 2)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


class DYShiftMax(nn.Module):
    """Dynamic Shift-Max activation (paper, Eq. 5).

        y_i = max_{k < K} sum_{j < J} a^k_{i,j}(x) * x_{(i + j * C/G) mod C}

    Channel i is fused with the channels one, two, ... groups further on (group circular
    shift by C/G channels, G = `groups`), which connects the groups of a grouped conv. The
    J*K coefficients per channel come from an SE-like hyper-function of the input:
    global average pool -> Linear(C, C/reduction) -> ReLU -> Linear(., J*K*C) -> hard sigmoid,
    rescaled to [-coeff_range, coeff_range] and added to a fixed initialisation: a^0_{i,0} = 1,
    all others 0, so that at zero offset the activation is max(x, 0), a ReLU.
    """

    def __init__(
        self,
        channels: int,
        groups: int,
        *,
        shifts: int = 2,
        fusions: int = 2,
        reduction: int = 8,
        coeff_range: float = 2.0,
    ) -> None:
        super().__init__()
        if channels % groups:
            raise ValueError(f"DYShiftMax: groups={groups} must divide channels={channels}")
        self.channels = channels
        self.groups = groups
        self.shifts = shifts  # J
        self.fusions = fusions  # K
        self.shift_step = channels // groups
        self.coeff_range = coeff_range
        squeeze = max(4, channels // reduction)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(
            nn.Linear(channels, squeeze),
            nn.ReLU(inplace=True),
            nn.Linear(squeeze, fusions * shifts * channels),
            nn.Hardsigmoid(),
        )
        init = torch.zeros(fusions, shifts, 1, 1, 1)
        init[0, 0] = 1.0
        self.register_buffer("init_coeffs", init, persistent=False)

    def coefficients(self, x: Tensor) -> Tensor:
        """The input-dependent coefficients a^k_{i,j}(x), shape (N, K, J, C, 1, 1)."""
        offsets = self.fc(self.pool(x).flatten(1))  # (N, K*J*C), in [0, 1]
        offsets = (offsets - 0.5) * (2.0 * self.coeff_range)
        offsets = offsets.unflatten(1, (self.fusions, self.shifts, self.channels, 1, 1))
        return offsets + self.init_coeffs.to(offsets.dtype)

    def forward(self, x: Tensor) -> Tensor:
        coeffs = self.coefficients(x)
        # shifted[j][:, i] = x[:, (i + j * C/G) mod C]
        shifted = [x] + [torch.roll(x, shifts=-j * self.shift_step, dims=1) for j in range(1, self.shifts)]
        fusions = []
        for k in range(self.fusions):
            fused = coeffs[:, k, 0] * shifted[0]
            for j in range(1, self.shifts):
                fused = fused + coeffs[:, k, j] * shifted[j]
            fusions.append(fused)
        out = fusions[0]
        for fused in fusions[1:]:
            out = torch.maximum(out, fused)
        return out

    def extra_repr(self) -> str:
        return f"channels={self.channels}, groups={self.groups}, J={self.shifts}, K={self.fusions}"


class MicroDepthwise(nn.Module):
    """Micro-factorised depthwise conv: k x 1 then 1 x k, each depthwise with a channel multiplier.

    in -> in * e1 (k x 1, groups = in) -> BN -> in * e1 * e2 (1 x k, groups = in * e1) -> BN.
    With stride s the k x 1 conv strides the height and the 1 x k conv the width, so that each
    axis is subsampled by the conv that filters along it (as in the official code).
    """

    def __init__(self, in_channels: int, expansion: tuple[int, int], kernel_size: int, stride: int) -> None:
        super().__init__()
        e1, e2 = expansion
        hidden1 = in_channels * e1
        self.out_channels = hidden1 * e2
        pad = kernel_size // 2
        self.conv_v = nn.Conv2d(
            in_channels, hidden1, (kernel_size, 1), (stride, 1), (pad, 0), groups=in_channels, bias=False
        )
        self.bn_v = nn.BatchNorm2d(hidden1)
        self.conv_h = nn.Conv2d(
            hidden1, self.out_channels, (1, kernel_size), (1, stride), (0, pad), groups=hidden1, bias=False
        )
        self.bn_h = nn.BatchNorm2d(self.out_channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.bn_h(self.conv_h(self.bn_v(self.conv_v(x))))


class MicroPointwise(nn.Module):
    """Micro-factorised pointwise conv W = P Phi Q (paper, Eq. 1), with a Shift-Max inside.

    grouped 1x1 (in -> mid, G1 groups) -> BN -> DYShiftMax (shift by one of the G1 groups)
    -> channel shuffle (G1) -> grouped 1x1 (mid -> out, G2 groups) -> BN.
    """

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int, *, shiftmax_reduction: int) -> None:
        super().__init__()
        self.groups = pointwise_groups(in_channels, mid_channels, out_channels)
        g1, g2 = self.groups
        self.compress = nn.Conv2d(in_channels, mid_channels, 1, groups=g1, bias=False)
        self.bn_compress = nn.BatchNorm2d(mid_channels)
        self.act = DYShiftMax(mid_channels, g1, reduction=shiftmax_reduction)
        self.shuffle = ChannelShuffle(g1)
        self.expand = nn.Conv2d(mid_channels, out_channels, 1, groups=g2, bias=False)
        self.bn_expand = nn.BatchNorm2d(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        x = self.act(self.bn_compress(self.compress(x)))
        return self.bn_expand(self.expand(self.shuffle(x)))


@register_block("DYMicroBlock")
class DYMicroBlock(nn.Module):
    """MicroNet block (Li et al., ICCV 2021): micro-factorised pointwise and depthwise convs with dynamic Shift-Max.

    The paper's Micro-Block-B, our implementation (the paper gives no code for this benchmark's
    interface; the official repository's blocks are tied to its network configurations):

    1. MicroDepthwise: 3x1 then 1x3 depthwise convs, channel multipliers `expansion` = (2, 2),
       so hidden = 4 * in (the 4x of the zoo's InvertedResidual outside late); BN after each.
    2. DYShiftMax on the hidden channels (J = 2 shifts, K = 2 fusions, SE reduction
       `shiftmax_reduction` = 8, shift by one group of the following compress conv).
    3. MicroPointwise: grouped 1x1 compress hidden -> mid = hidden / `pointwise_reduction`
       (4, so mid = in at the default expansion), BN, DYShiftMax, channel shuffle, grouped 1x1
       expand mid -> out, BN. Groups G1, G2 ~ sqrt(mid), rounded to divisors of the channel
       counts they split (`pointwise_groups`), e.g. 8 and 8 for 64 -> 64 and for 128 -> 256.
    4. Identity residual exactly when in == out and stride == 1; no projection shortcut
       otherwise (as in the paper).

    Any channel counts work (group counts fall back to smaller divisors, down to 1). There is
    no activation after the last BN (linear bottleneck, as in the paper). `position` is
    checked but ignored: the block is the same in every stage.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int,
        position: str,
        *,
        kernel_size: int = 3,
        expansion: tuple[int, int] = (2, 2),
        pointwise_reduction: int = 4,
        shiftmax_reduction: int = 8,
    ) -> None:
        super().__init__()
        check_position(position)
        self.depthwise = MicroDepthwise(in_channels, expansion, kernel_size, stride)
        hidden = self.depthwise.out_channels
        mid = max(1, hidden // pointwise_reduction)
        g1, _ = pointwise_groups(hidden, mid, out_channels)
        self.act = DYShiftMax(hidden, g1, reduction=shiftmax_reduction)
        self.pointwise = MicroPointwise(hidden, mid, out_channels, shiftmax_reduction=shiftmax_reduction)
        self.has_residual = in_channels == out_channels and stride == 1

    def forward(self, x: Tensor) -> Tensor:
        out = self.pointwise(self.act(self.depthwise(x)))
        if self.has_residual:  # fixed at construction, so torch.jit.trace records it correctly
            out = out + x
        return out
