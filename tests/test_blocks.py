"""Every block at every position: shapes, deploy form equivalence, registry behaviour."""
import copy

import pytest
import torch
from timm.utils.model import reparameterize_model

from blockzoo import POSITIONS, BlockzooError, ScaffoldNet, create_block, list_available_blocks, register_block
from blockzoo.blocks import import_block_modules
from blockzoo.blocks.registry import _REGISTRY

ZOO = [
    "ResNetBasicBlock", "ResNetBottleneck", "InvertedResidual", "UniversalInvertedBottleneck", "EdgeResidual",
    "MBConvLNBlock", "MobileOneBlock", "ReparamLargeKernelConv", "RepMixer", "GhostBottleneckV3", "DYMicroBlock",
]
REPARAMETERISING = {"MobileOneBlock", "ReparamLargeKernelConv", "RepMixer", "GhostBottleneckV3"}
# (in, out, stride, input size) of each stage's transition block and of its later blocks
STAGE_SHAPES = {"early": [(64, 64, 1, 32)], "mid": [(64, 128, 2, 32), (128, 128, 1, 16)], "late": [(128, 256, 2, 16), (256, 256, 1, 8)]}


def test_all_eleven_blocks_are_registered():
    assert set(ZOO) <= set(list_available_blocks())


@pytest.mark.parametrize("position", POSITIONS)
@pytest.mark.parametrize("name", ZOO)
def test_block_output_shape(name, position):
    for in_ch, out_ch, stride, size in STAGE_SHAPES[position]:
        block = create_block(name, in_ch, out_ch, stride, position)
        y = block(torch.randn(2, in_ch, size, size))
        assert y.shape == (2, out_ch, size // stride, size // stride)


def _with_trained_batchnorm_stats(model: torch.nn.Module, x: torch.Tensor) -> torch.nn.Module:
    """A few train-mode forwards move BN running stats away from 0/1, so fusion is really exercised."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(x + 0.5 * torch.randn_like(x))
    return model.eval()


@pytest.mark.parametrize("position", POSITIONS)
@pytest.mark.parametrize("name", sorted(REPARAMETERISING))
def test_deploy_form_matches_train_form(name, position):
    torch.manual_seed(0)
    net = ScaffoldNet(name, position, num_blocks=2)
    x = torch.randn(4, 3, 32, 32)
    _with_trained_batchnorm_stats(net, x)
    deploy = reparameterize_model(copy.deepcopy(net))
    train_params = sum(p.numel() for p in net.parameters())
    deploy_params = sum(p.numel() for p in deploy.parameters())
    assert deploy_params < train_params, "re-parameterisation should fold branches away"
    with torch.no_grad():
        expected, got = net(x), deploy(x)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_unknown_block_names_the_closest_matches():
    with pytest.raises(BlockzooError) as info:
        create_block("GhostBottleneckV2", 64, 64, 1, "mid")
    message = str(info.value)
    assert "GhostBottleneckV3" in message and "\n" not in message


def test_bad_position_is_a_clear_error():
    with pytest.raises(BlockzooError, match="unknown position 'middle'.*early, mid, late"):
        create_block("ResNetBasicBlock", 64, 64, 1, "middle")


def test_user_block_module_registers_with_one_decorator(tmp_path):
    module = tmp_path / "my_blocks.py"
    module.write_text(
        "from torch import nn\n"
        "from blockzoo import register_block\n\n"
        "@register_block()\n"
        "def TestOnlyPlainConv(in_channels, out_channels, stride, position):\n"
        "    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, stride, 1), nn.BatchNorm2d(out_channels), nn.ReLU())\n"
    )
    try:
        import_block_modules([str(module)])
        assert "TestOnlyPlainConv" in list_available_blocks()
        net = ScaffoldNet("TestOnlyPlainConv", "late")
        assert net(torch.randn(1, 3, 32, 32)).shape == (1, 100)
    finally:
        _REGISTRY.pop("TestOnlyPlainConv", None)


def test_missing_user_module_is_a_clear_error():
    with pytest.raises(BlockzooError, match="cannot be imported"):
        import_block_modules(["no_such_module_for_blockzoo"])
    with pytest.raises(BlockzooError, match="does not exist"):
        import_block_modules(["nowhere/my_blocks.py"])


def test_registering_a_taken_name_from_another_module_fails():
    def ResNetBasicBlock(in_channels, out_channels, stride, position):  # noqa: N802 - the clash is the point
        raise AssertionError("never built")

    ResNetBasicBlock.__module__ = "someone_elses_module"
    with pytest.raises(BlockzooError, match="already registered"):
        register_block()(ResNetBasicBlock)
