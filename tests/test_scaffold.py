"""ScaffoldNet matches docs/blocks.md: structure, parameter count, macro form, errors."""
import pytest
import torch
from timm.models.resnet import BasicBlock
from torch import nn

from blockzoo import POSITIONS, BlockzooError, ScaffoldNet


def _conv_bn_params(cin, cout, k, bias=False):
    return cin * cout * k * k + (cout if bias else 0) + 2 * cout


def _basic_block_params(cin, cout):
    """Two 3x3 conv+BN, plus the always-present 1x1 conv+BN projection."""
    return _conv_bn_params(cin, cout, 3) + _conv_bn_params(cout, cout, 3) + _conv_bn_params(cin, cout, 1)


def _baseline_params(num_blocks=3, c=64, num_classes=100):
    total = _conv_bn_params(3, c, 3, bias=True)
    for cin, cout in ((c, c), (c, 2 * c), (2 * c, 4 * c)):
        total += _basic_block_params(cin, cout) + (num_blocks - 1) * _basic_block_params(cout, cout)
    return total + 4 * c * num_classes + num_classes


def test_baseline_parameter_count_matches_independent_count():
    assert _baseline_params() == 4_528_996
    for position in POSITIONS:
        net = ScaffoldNet("ResNetBasicBlock", position)
        assert sum(p.numel() for p in net.parameters()) == 4_528_996


@pytest.mark.parametrize("num_blocks,base_channels,num_classes", [(1, 16, 10), (2, 32, 100), (4, 8, 7)])
def test_parameter_count_follows_arguments(num_blocks, base_channels, num_classes):
    net = ScaffoldNet(num_blocks=num_blocks, base_channels=base_channels, num_classes=num_classes)
    assert sum(p.numel() for p in net.parameters()) == _baseline_params(num_blocks, base_channels, num_classes)


def test_structure_follows_blocks_md():
    net = ScaffoldNet("GhostBottleneckV3", "mid")
    stem_conv = net.stem[0]
    assert (stem_conv.in_channels, stem_conv.out_channels, stem_conv.kernel_size,
            stem_conv.bias is not None) == (3, 64, (3, 3), True)
    # inactive stages are real BasicBlocks, not identities
    assert all(isinstance(b, BasicBlock) for b in net.early) and all(isinstance(b, BasicBlock) for b in net.late)
    assert not any(isinstance(b, BasicBlock) for b in net.mid)
    assert len(net.early) == len(net.mid) == len(net.late) == 3
    assert isinstance(net.head[-1], nn.Linear) and net.head[-1].in_features == 256


def test_stage_resolutions():
    net = ScaffoldNet().eval()
    x = net.stem(torch.randn(1, 3, 32, 32))
    for stage, (channels, size) in zip(POSITIONS, [(64, 32), (128, 16), (256, 8)], strict=True):
        x = getattr(net, stage)(x)
        assert x.shape == (1, channels, size, size)


def test_grayscale_input():
    net = ScaffoldNet("MobileOneBlock", "early", in_chans=1, num_classes=10)
    assert net(torch.randn(2, 1, 32, 32)).shape == (2, 10)


def test_macro_form_one_block_per_stage():
    net = ScaffoldNet.macro(["InvertedResidual", "ResNetBottleneck", "RepMixer"], num_blocks=1)
    assert net.stage_blocks == ("InvertedResidual", "ResNetBottleneck", "RepMixer")
    assert type(net.early[0]).__name__ == "InvertedResidual"
    assert type(net.mid[0]).__name__ == "Bottleneck"
    assert net(torch.randn(1, 3, 32, 32)).shape == (1, 100)


def test_bad_arguments_are_clear_errors():
    with pytest.raises(BlockzooError, match="unknown position 'stage2'"):
        ScaffoldNet("ResNetBasicBlock", "stage2")
    with pytest.raises(BlockzooError, match="one block per stage"):
        ScaffoldNet.macro(["ResNetBasicBlock", "RepMixer"])
    with pytest.raises(BlockzooError, match="num_blocks must be an integer from 1 to 32"):
        ScaffoldNet(num_blocks=0)
    with pytest.raises(BlockzooError, match="unknown block"):
        ScaffoldNet.macro(["ResNetBasicBlock", "NoSuchBlock", "RepMixer"])
