"""The BLOX network as torch modules (docs/blox.md): its three operations, the BLOX cell, the Reduction, BloxNet.

Every conv has a bias; CBR is Conv2d -> BatchNorm2d -> ReLU. The stages are named like ScaffoldNet's
(stem, early, mid, late, head), so that the profile and benchmark measure both kinds of network alike.
"""
from __future__ import annotations

import torch
from torch import nn

from blockzoo.macro import blox


def cbr(c_in: int, c_out: int, kernel: int, stride: int = 1, padding: int = 0, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, stride, padding, groups=groups, bias=True),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class SqueezeExcite(nn.Module):
    """BLOX's SE: pool -> 1x1 conv c->c (bias) -> ReLU -> 1x1 conv c->c (bias) -> sigmoid -> multiply (no reduction)."""

    def __init__(self, channels: int):
        super().__init__()
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, channels, 1), nn.ReLU(inplace=True),
                                  nn.Conv2d(channels, channels, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class Residual(nn.Module):
    """x + body(x)."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def conv_op(c: int) -> nn.Module:
    """0 conv: 4 x CBR 3x3, C -> C; no residual inside."""
    return nn.Sequential(*(cbr(c, c, 3, padding=1) for _ in range(4)))


def mbconv_op(c: int) -> nn.Module:
    """1 mbconv: 2 x [CBR 3x3 C -> 2C (dense); SE(2C); CBR 1x1 2C -> C], a residual add after each triple."""
    return nn.Sequential(*(Residual(nn.Sequential(cbr(c, 2 * c, 3, padding=1), SqueezeExcite(2 * c), cbr(2 * c, c, 1)))
                           for _ in range(2)))


def bconv_op(c: int) -> nn.Module:
    """2 bconv: 6 x [CBR 1x1 C -> B; CBR depthwise 5x5; CBR 1x1 B -> C], a residual add after each triple;
    B cycles C//2, C, 2C."""
    widths = [c // 2, c, 2 * c] * 2
    return nn.Sequential(*(Residual(nn.Sequential(cbr(c, b, 1), cbr(b, b, 5, padding=2, groups=b), cbr(b, c, 1)))
                           for b in widths))


OPERATIONS = (conv_op, mbconv_op, bconv_op)


class BloxCellModule(nn.Module):
    """A BLOX cell: n1 = op1(x); n2 = op2(prev * n1 + input * x); out = n2 + n1 if sc else n2. Built from the
    canonical BLOX cell, so that op2 exists only where it is used."""

    def __init__(self, blox_cell: blox.BloxCell, channels: int):
        super().__init__()
        op1, op2, self.prev, self.input, self.sc = blox.canonical_blox_cell(blox_cell)
        self.op1 = OPERATIONS[op1](channels)
        self.single = (self.prev, self.input, self.sc) == (0, 0, 1)
        self.op2 = None if self.single else OPERATIONS[op2](channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n1 = self.op1(x)  # exactly once, on the BLOX cell's input itself
        if self.single:
            return n1
        if self.prev and self.input:
            n2 = self.op2(n1 + x)
        else:
            n2 = self.op2(n1 if self.prev else x)
        return n2 + n1 if self.sc else n2


class Reduction(nn.Module):
    """a = CBR 3x3 stride 2 (C -> 2C) then CBR 3x3 (2C -> 2C); p = CBR 2x2 stride 2 (C -> 2C); out = a + p, the
    larger cropped when they differ by one pixel."""

    def __init__(self, channels: int):
        super().__init__()
        self.a = nn.Sequential(cbr(channels, 2 * channels, 3, stride=2, padding=1),
                               cbr(2 * channels, 2 * channels, 3, padding=1))
        self.p = cbr(channels, 2 * channels, 2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, p = self.a(x), self.p(x)
        h, w = min(a.shape[2], p.shape[2]), min(a.shape[3], p.shape[3])
        return a[:, :, :h, :w] + p[:, :, :h, :w]


class BloxNet(nn.Module):
    """Stem (CBR 3x3, in_chans -> width), per stage a BLOX cell at C and a Reduction C -> 2C, head (pool, linear)."""

    def __init__(self, arch, num_classes: int = 100, in_chans: int = 3, width: int = 32):
        super().__init__()
        self.arch = blox.canonical(arch)
        self.stem = cbr(in_chans, width, 3, padding=1)
        channels = width
        for stage, blox_cell in zip(("early", "mid", "late"), self.arch, strict=True):
            self.add_module(stage, nn.Sequential(BloxCellModule(blox_cell, channels), Reduction(channels)))
            channels *= 2
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.late(self.mid(self.early(self.stem(x)))))
