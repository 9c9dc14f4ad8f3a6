"""blockzoo.profile: FLOPs against hand counts, the record, and the CPU memory tracker."""
from collections import OrderedDict

import pytest
import torch
from torch import nn

from blockzoo import list_available_blocks, results
from blockzoo.blocks import import_block_modules, unregister_block
from blockzoo.cell import Cell
from blockzoo.profile.flops import count_flops
from blockzoo.profile.measure import STAGES, profile_cell
from blockzoo.profile.memory import StorageTracker, forward_memory, train_step_memory
from blockzoo.scaffold import ScaffoldNet
from blockzoo.settings import ProfileSettings, ScaffoldSpec


def profile_block(block, position, memory_batch_size=2, **scaffold):
    return profile_cell(Cell(block, position, ScaffoldSpec(**scaffold)),
                        ProfileSettings(memory_batch_size=memory_batch_size))

PLAIN_CONV_BLOCKS = '''
from torch import nn
from blockzoo import register_block

@register_block("PlainConvTestBlock")
def plain_conv(in_channels, out_channels, stride, position):
    """One bias-free 3x3 conv: FLOPs easy to count by hand."""
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
'''


def conv_flops(c_in, c_out, k, h_out, w_out, groups=1):
    return c_out * (c_in // groups) * k * k * h_out * w_out


@pytest.fixture
def plain_conv_module(tmp_path):
    """PlainConvTestBlock registered from a .py file; unregistered afterwards."""
    path = tmp_path / "plain_conv_blocks.py"
    path.write_text(PLAIN_CONV_BLOCKS)
    import_block_modules([str(path)])
    yield str(path)
    unregister_block("PlainConvTestBlock")


def test_flops_of_convs_and_linear_match_hand_count():
    net = nn.Sequential(OrderedDict(
        conv=nn.Conv2d(3, 8, 3, padding=1, bias=False),  # 16x16
        relu=nn.ReLU(inplace=True),
        strided=nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False),  # 8x8
        grouped=nn.Conv2d(16, 16, 3, padding=1, groups=4, bias=False),
        pointwise=nn.Conv2d(16, 32, 1, bias=False),
        flatten=nn.Flatten(),
        fc=nn.Linear(32 * 8 * 8, 10),
    ))
    expected = {
        "conv": conv_flops(3, 8, 3, 16, 16),
        "strided": conv_flops(8, 16, 3, 8, 8),
        "grouped": conv_flops(16, 16, 3, 8, 8, groups=4),
        "pointwise": conv_flops(16, 32, 1, 8, 8),
        "fc": 32 * 8 * 8 * 10,
    }
    count = count_flops(net, torch.randn(1, 3, 16, 16), [*expected, "relu"])
    relu = 8 * 16 * 16  # one per output element
    assert count.stages == {**expected, "relu": relu}
    assert count.total == sum(expected.values()) + relu
    assert count.fvcore_total == sum(expected.values())  # fvcore's own count ignores the ReLU
    assert not count.skipped


class Gate(nn.Module):
    """Squeeze-excite-like elementwise work: x * sigmoid(mean(x)) + x."""

    def forward(self, x):
        return x * torch.sigmoid(x.mean((2, 3), keepdim=True)) + x


def test_elementwise_ops_count_one_flop_per_element():
    count = count_flops(Gate(), torch.randn(1, 4, 8, 8))
    mean, sigmoid, mul, add = 4 * 8 * 8, 4, 4 * 8 * 8, 4 * 8 * 8  # mean: one add per input element
    assert count.total == mean + sigmoid + mul + add
    assert count.fvcore_total == 0 and not count.skipped


@pytest.mark.parametrize("block", list_available_blocks())
def test_every_op_of_every_block_is_counted(block):
    profile = profile_block(block, "late", base_channels=8, num_blocks=1, memory_batch_size=1)["profile"]
    assert profile["unsupported_ops"] == ""
    assert profile["flops_total"] >= profile["flops_total_fvcore"]


def test_flops_of_active_stage_match_hand_count(plain_conv_module):
    record = profile_block("PlainConvTestBlock", "mid", num_blocks=2, base_channels=8, memory_batch_size=1)
    profile = record["profile"]
    # mid: 8 -> 16 channels, 32x32 -> 16x16; the first block transitions, the second is 16 -> 16
    expected = conv_flops(8, 16, 3, 16, 16) + conv_flops(16, 16, 3, 16, 16)
    assert profile["flops_mid"] == profile["flops_active"] == profile["flops_active_deploy"] == expected
    assert profile["params_mid"] == profile["params_active"]
    assert profile["params_active"] == 8 * 16 * 9 + 16 * 16 * 9


@pytest.fixture(scope="module")
def resnet_mid():
    return profile_block("ResNetBasicBlock", "mid", memory_batch_size=2)


def test_resnet_mid_record(resnet_mid):
    results.validate(resnet_mid)
    profile = resnet_mid["profile"]
    assert resnet_mid["scaffold"] == {"num_blocks": 3, "base_channels": 64, "num_classes": 100, "in_chans": 3,
                                      "input_size": 32}
    assert profile["params_total"] == profile["params_total_deploy"] == 4_528_996
    assert sum(profile[f"flops_{stage}"] for stage in STAGES) == profile["flops_total"]
    assert profile["flops_active"] == profile["flops_mid"]
    assert profile["flops_total_deploy"] == profile["flops_total"]
    assert profile["flops_total_fvcore"] == 679_289_856  # blockzoo 0.4's committed count of this network
    assert profile["env"]["device"] == "cpu" and profile["memory_batch_size"] == 2


@pytest.fixture(scope="module")
def mobileone_early():
    return profile_block("MobileOneBlock", "early", base_channels=16, memory_batch_size=2)


def test_mobileone_deploy_form_is_smaller(mobileone_early):
    profile = mobileone_early["profile"]
    results.validate(mobileone_early)
    assert profile["params_total_deploy"] < profile["params_total"]
    assert profile["params_active_deploy"] < profile["params_active"]
    assert profile["flops_active_deploy"] < profile["flops_active"]
    # only the active stage is re-parameterised
    assert (profile["flops_total"] - profile["flops_total_deploy"]
            == profile["flops_active"] - profile["flops_active_deploy"])


def test_dymicroblock_elementwise_work_is_counted():
    # Shift-Max, the hard-sigmoid gates and the residual adds: elementwise work fvcore's count leaves out,
    # a larger share of DYMicroBlock's work than of the baseline's
    def elementwise_share(block):
        profile = profile_block(block, "early", base_channels=16, num_blocks=1, memory_batch_size=1)["profile"]
        return (profile["flops_total"] - profile["flops_total_fvcore"]) / profile["flops_early"]

    assert elementwise_share("DYMicroBlock") > 3 * elementwise_share("ResNetBasicBlock") > 0


def test_tracker_peak_of_a_conv_chain_matches_hand_count():
    # eval, no grad: each activation is freed once the next one exists, so the peak is the
    # largest pair of neighbours; the in-place ReLU adds nothing; the input is not counted
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.ReLU(inplace=True),
        nn.Conv2d(4, 8, 3, padding=1, bias=False),
        nn.Conv2d(8, 2, 3, padding=1, bias=False),
    ).eval()
    batch, side = 3, 16
    a1, a2, a3 = (batch * channels * side * side * 4 for channels in (4, 8, 2))
    images = torch.randn(batch, 1, side, side)
    with StorageTracker() as tracker, torch.no_grad():
        out = net(images)
    assert tracker.peak == max(a1 + a2, a2 + a3) == a1 + a2
    assert tracker.current == a3  # only the output is still alive
    del out
    assert tracker.current == 0


def test_tracker_ignores_views_and_in_place_ops():
    x = torch.randn(64, 64)
    with StorageTracker() as tracker:
        view = x.view(-1)[:10]
        x.add_(1).relu_()
        doubled = x * 2  # the only new storage
    assert tracker.peak == tracker.current == 64 * 64 * 4
    del view, doubled
    assert tracker.current == 0


def test_train_step_memory_exceeds_forward_and_grows_with_batch():
    net = ScaffoldNet(num_blocks=1, base_channels=8, num_classes=10)
    param_bytes = sum(p.numel() * 4 for p in net.parameters())
    forward_small = forward_memory(net, torch.randn(2, 3, 32, 32))
    train_small = train_step_memory(net, torch.randn(2, 3, 32, 32), 10)
    forward_large = forward_memory(net, torch.randn(8, 3, 32, 32))
    train_large = train_step_memory(net, torch.randn(8, 3, 32, 32), 10)
    assert 0 < forward_small < forward_large
    assert train_small < train_large
    assert train_small > forward_small and train_large > forward_large
    assert train_small >= 2 * param_bytes  # gradients and momentum buffers at least
