"""DYMicroBlock (MicroNet) and its parts: shapes, gradients, residual, dynamic Shift-Max, shuffle, groups."""
from __future__ import annotations

import pytest
import torch
from timm.models._efficientnet_blocks import InvertedResidual

from blockzoo.blocks.micronet import (
    ChannelShuffle,
    DYMicroBlock,
    DYShiftMax,
    MicroPointwise,
    pointwise_groups,
)
from blockzoo.blocks.registry import POSITIONS, create_block

CASES = [(64, 64, 1), (64, 128, 2), (128, 256, 2), (128, 128, 1), (256, 256, 1)]


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def test_registry_builds_block() -> None:
    block = create_block("DYMicroBlock", 64, 128, 2, "mid")
    assert isinstance(block, DYMicroBlock)
    assert block(torch.randn(2, 64, 16, 16)).shape == (2, 128, 8, 8)


@pytest.mark.parametrize("position", POSITIONS)
@pytest.mark.parametrize(("cin", "cout", "stride"), CASES)
def test_output_shape(cin: int, cout: int, stride: int, position: str) -> None:
    block = DYMicroBlock(cin, cout, stride, position)
    out = block(torch.randn(2, cin, 8, 8))
    assert out.shape == (2, cout, 8 // stride, 8 // stride)


def test_odd_spatial_size_and_trace() -> None:
    block = DYMicroBlock(64, 128, 2, "mid").eval()
    x = torch.randn(1, 64, 7, 7)
    assert block(x).shape == (1, 128, 4, 4)
    traced = torch.jit.trace(block, x)  # what fvcore does; must not depend on data
    other = torch.randn(3, 64, 7, 7)
    torch.testing.assert_close(traced(other), block(other))


@pytest.mark.parametrize(("cin", "cout", "stride"), [(64, 64, 1), (64, 128, 2)])
def test_gradients_reach_every_parameter(cin: int, cout: int, stride: int) -> None:
    block = DYMicroBlock(cin, cout, stride, "mid").train()
    out = block(torch.randn(4, cin, 8, 8))
    (out * torch.randn_like(out)).sum().backward()  # random projection: BN-normalised sums have zero grad
    for name, p in block.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize(("cin", "cout", "stride"), CASES + [(64, 64, 2)])
def test_residual_exactly_when_shapes_match(cin: int, cout: int, stride: int) -> None:
    block = DYMicroBlock(cin, cout, stride, "early").eval()
    expected = cin == cout and stride == 1
    assert block.has_residual == expected
    # silence the residual branch: the block's output is then the shortcut alone
    torch.nn.init.zeros_(block.pointwise.bn_expand.weight)
    torch.nn.init.zeros_(block.pointwise.bn_expand.bias)
    x = torch.randn(2, cin, 8, 8)
    out = block(x)
    if expected:
        torch.testing.assert_close(out, x)
    else:
        assert torch.count_nonzero(out) == 0


def test_shiftmax_is_dynamic() -> None:
    act = DYShiftMax(32, groups=4).eval()
    x1, x2 = torch.randn(1, 32, 6, 6), 3.0 * torch.randn(1, 32, 6, 6) + 1.0
    c1, c2 = act.coefficients(x1), act.coefficients(x2)
    assert c1.shape == (1, 2, 2, 32, 1, 1)  # (N, K, J, C, 1, 1)
    assert not torch.allclose(c1, c2)
    # same value at one pixel, different context elsewhere -> different activation at that pixel
    x2[..., 0, 0] = x1[..., 0, 0]
    assert not torch.allclose(act(x1)[..., 0, 0], act(x2)[..., 0, 0])


def test_shiftmax_matches_formula() -> None:
    channels, groups = 12, 3
    act = DYShiftMax(channels, groups).eval()
    x = torch.randn(2, channels, 4, 5)
    a = act.coefficients(x)  # (N, K, J, C, 1, 1)
    step = channels // groups
    shifted = torch.stack([x[:, [(i + j * step) % channels for i in range(channels)]] for j in range(2)], 1)
    expected = (a * shifted.unsqueeze(1)).sum(2).amax(1)
    torch.testing.assert_close(act(x), expected)


def test_shiftmax_is_relu_at_zero_offsets() -> None:
    act = DYShiftMax(16, groups=4)
    torch.nn.init.zeros_(act.fc[2].weight)
    torch.nn.init.zeros_(act.fc[2].bias)  # hard sigmoid(0) = 0.5 -> offset 0
    x = torch.randn(2, 16, 3, 3)
    torch.testing.assert_close(act(x), torch.relu(x))


@pytest.mark.parametrize(("channels", "groups"), [(64, 8), (24, 3), (16, 16), (10, 1)])
def test_channel_shuffle_is_a_permutation(channels: int, groups: int) -> None:
    x = torch.arange(channels, dtype=torch.float32).view(1, channels, 1, 1).expand(2, channels, 3, 3)
    y = ChannelShuffle(groups)(x)
    perm = y[0, :, 0, 0].long()
    assert sorted(perm.tolist()) == list(range(channels))
    torch.testing.assert_close(y, x[:, perm])
    # shuffling with C/g groups is the inverse
    torch.testing.assert_close(ChannelShuffle(channels // groups)(y), x)
    if 1 < groups < channels:
        assert perm.tolist() != list(range(channels))


@pytest.mark.parametrize("cin", range(8, 264, 8))
def test_group_counts_divide_channels(cin: int) -> None:
    for cout in (cin, 2 * cin, cin + 8, 24):
        hidden, mid = 4 * cin, cin
        g1, g2 = pointwise_groups(hidden, mid, cout)
        assert hidden % g1 == 0 and mid % g1 == 0
        assert mid % g2 == 0 and cout % g2 == 0
    for mid in (8, 24, 40, 56, 72, 96, 200, 264):  # not powers of two, still valid
        pw = MicroPointwise(3 * mid, mid, mid + 8, shiftmax_reduction=8)
        assert pw(torch.randn(1, 3 * mid, 2, 2)).shape == (1, mid + 8, 2, 2)


def test_paper_square_root_rule() -> None:
    assert pointwise_groups(256, 64, 64) == (8, 8)
    assert pointwise_groups(1024, 256, 256) == (16, 16)
    assert pointwise_groups(512, 128, 256) == (8, 8)  # sqrt(128) ~ 11.3: the tie 8/16 goes to 8


@pytest.mark.parametrize(("cin", "cout", "stride"), CASES)
def test_parameter_count_is_sane(cin: int, cout: int, stride: int) -> None:
    micro = n_params(DYMicroBlock(cin, cout, stride, "mid"))
    reference = n_params(InvertedResidual(cin, cout, stride=stride, exp_ratio=4.0))
    print(f"DYMicroBlock({cin}, {cout}, {stride}): {micro:,} params; InvertedResidual(exp 4): {reference:,}")
    assert 0.5 * reference < micro < 2.0 * reference
