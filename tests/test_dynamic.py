"""Dynamic inference (BlockDrop): the mechanics, deterministically; then a learning test on real data
(Fashion-MNIST, a narrow scaffold, CPU) and the command line."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from blockzoo.cell import Cell
from blockzoo.dynamic.droppable import DroppableNet, ParameterFreeShortcut
from blockzoo.dynamic.measure import flops_per_image, unit_flops
from blockzoo.dynamic.policy import PolicyNet, bounded, curriculum_mask, policy_loss, reward
from blockzoo.profile.flops import count_flops
from blockzoo.settings import DataSettings, DynamicSettings, ScaffoldSpec, TrainSettings

REPO = Path(__file__).resolve().parent.parent


def trained_like(block: str = "ResNetBasicBlock", position: str = "mid", num_blocks: int = 3, seed: int = 0):
    """A scaffold with non-trivial BN statistics, as a trained one has."""
    torch.manual_seed(seed)
    net = Cell(block, position, ScaffoldSpec(num_blocks=num_blocks, base_channels=8, num_classes=10)).build()
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.randn(8, 3, 32, 32))
    return net.eval()


def test_rewards_and_bounded_exploration():
    keep = torch.tensor([[1, 1, 1, 0, 0, 0, 0, 0, 0]] * 2)
    values = reward(torch.tensor([True, False]), keep, gamma=5.0)
    assert values.tolist() == pytest.approx([1 - (3 / 9) ** 2, -5.0])
    assert bounded(torch.tensor([0.0, 1.0, 0.5]), 0.8).tolist() == pytest.approx([0.2, 0.8, 0.5])


def test_curriculum_forces_the_first_blocks_and_gives_them_no_gradient():
    mask = curriculum_mask(9, 3)
    assert mask.tolist() == [False] * 6 + [True] * 3
    probs = torch.full((4, 9), 0.3, requires_grad=True)
    sampled = torch.ones(4, 9)
    policy_loss(probs, sampled, torch.tensor([1.0, -1.0, 0.5, 2.0]), mask).backward()
    assert probs.grad[:, :6].abs().sum() == 0 and probs.grad[:, 6:].abs().sum() > 0
    # the advantage is zero when the sample is the greedy policy: no gradient at all
    probs.grad = None
    policy_loss(probs, sampled, torch.zeros(4), curriculum_mask(9, 9)).backward()
    assert probs.grad.abs().sum() == 0


def test_the_baseline_scaffold_has_nine_droppable_blocks_and_the_others_say_which():
    assert DroppableNet(trained_like()).num_droppable == 9
    # strided / channel-changing inverted residuals and RepMixer units have no separable shortcut
    ir = DroppableNet(trained_like("InvertedResidual", "mid"))
    assert ir.droppable_names() == ["early.0", "early.1", "early.2", "mid.1", "mid.2", "late.0", "late.1", "late.2"]
    rep = DroppableNet(trained_like("RepMixer", "late"))
    assert "late.0" not in rep.droppable_names() and rep.num_droppable == 6
    everything = DroppableNet(trained_like("RepMixer", "late"), fallback="parameter-free")
    assert everything.num_droppable == 9
    assert isinstance(everything.units[6].shortcut, ParameterFreeShortcut)
    x = torch.randn(2, 16, 16, 16)
    assert ParameterFreeShortcut(16, 32, 2)(x).shape == (2, 32, 8, 8)


@pytest.mark.parametrize("block,position", [("ResNetBasicBlock", "mid"), ("GhostBottleneckV3", "late"),
                                            ("MBConvLNBlock", "early"), ("DYMicroBlock", "mid")])
def test_all_on_is_the_static_network_and_gating_equals_real_skipping(block, position):
    droppable = DroppableNet(trained_like(block, position, num_blocks=2))
    x = torch.randn(6, 3, 32, 32)
    k = droppable.num_droppable
    with torch.no_grad():
        torch.testing.assert_close(droppable(x, torch.ones(6, k)), droppable.net(x), rtol=0, atol=0)
        keep = torch.randint(0, 2, (6, k)).float()
        keep[0] = 0  # every block dropped for one image, all kept for another
        keep[1] = 1
        torch.testing.assert_close(droppable(x, keep), droppable.forward_skipping(x, keep), rtol=1e-5, atol=1e-5)


def test_flops_per_image_follow_blocks_used_and_equal_the_profile_when_all_are_on():
    droppable = DroppableNet(trained_like())
    image = torch.randn(1, 3, 32, 32)
    table = unit_flops(droppable, image)
    k = droppable.num_droppable
    everything = flops_per_image(torch.ones(1, k), droppable, table)[0]
    assert everything == count_flops(droppable.net, image).total == table["total"]
    keep = torch.ones(k + 1, k)
    for used in range(k + 1):
        keep[used, used:] = 0  # row i keeps the first i blocks
    flops = flops_per_image(keep, droppable, table)
    assert all(a < b for a, b in zip(flops[:-1], flops[1:], strict=True))  # monotone in blocks used
    assert flops[-1] == everything


def test_policy_network_shape():
    policy = PolicyNet(9, in_chans=1)
    probs = policy(torch.randn(3, 1, 32, 32))
    assert probs.shape == (3, 9) and bool(((probs > 0) & (probs < 1)).all())


@pytest.fixture(scope="module")
def trained_cell(tmp_path_factory, debian_fashion_mnist):
    """ResNetBasicBlock, 2 blocks per stage (K = 6), width 8, trained briefly on Fashion-MNIST."""
    from blockzoo.train.run import train

    runs = tmp_path_factory.mktemp("runs")
    data = DataSettings(dataset="fashion-mnist", archive=str(debian_fashion_mnist), root=str(runs / "data"),
                        val_size=1000)
    cell = Cell("ResNetBasicBlock", "mid", ScaffoldSpec(num_blocks=2, base_channels=8, num_classes=10, in_chans=1))
    record = train(cell, TrainSettings(epochs=2, batch_size=128, limit_train_batches=100, device="cpu"), data,
                   seed=0, out_dir=runs / "ResNetBasicBlock-s0", data_dir=runs / "data" / "fashion-mnist",
                   progress=False)
    return cell, data, runs, record["train"]["test_acc"]


def dynamic(trained_cell, gamma: float, name: str):
    from blockzoo.dynamic.run import train_dynamic

    cell, data, runs, _ = trained_cell
    # a short budget: the penalty in both stages, so that the policies of two gammas part within it
    settings = DynamicSettings(curriculum_epochs=3, finetune_epochs=2, batch_size=128, limit_train_batches=30,
                               curriculum_gamma=gamma, device="cpu", latency_images=10)
    return train_dynamic(cell, runs / "ResNetBasicBlock-s0" / "checkpoints" / "best.ckpt", settings, data,
                         gamma=gamma, seed=0, out_dir=runs / name, data_dir=runs / "data" / "fashion-mnist",
                         progress=False)["dynamic"]


def test_blockdrop_learns_on_fashion_mnist(trained_cell):
    static_acc = trained_cell[3]
    small = dynamic(trained_cell, 0.2, "gamma-small")
    large = dynamic(trained_cell, 5.0, "gamma-large")
    # the static reference is the trained cell itself, not the base network as fine-tuning left it
    assert small["test_acc_static"] == pytest.approx(static_acc, abs=1e-3)
    assert large["blocks_droppable"] == 6
    # a small penalty for a wrong answer: the policy learns to drop blocks (to a third of the budget here)
    assert small["blocks_used_mean"] < 5 and small["flops_per_image_mean"] < small["flops_static"]
    assert small["distinct_policies"] > 1
    # a large one: it keeps clearly more blocks and more accuracy, near the static network's in this short budget
    assert large["blocks_used_mean"] > small["blocks_used_mean"] + 1
    assert large["test_acc"] > small["test_acc"] + 0.05
    assert large["test_acc"] >= static_acc - 0.03, (large["test_acc"], static_acc)
    assert large["flops_per_image_mean"] <= large["flops_static"]
    assert (trained_cell[2] / "gamma-large" / "images_by_blocks.png").is_file()


def test_cli_says_which_command_trains_a_missing_cell(tmp_path):
    done = subprocess.run([sys.executable, "-m", "blockzoo.dynamic", "RepMixer", "--position", "mid", "--runs",
                           str(tmp_path)], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "no trained checkpoint" in done.stderr and "python -m blockzoo.train RepMixer --position mid" in done.stderr
    json.dumps(done.stderr)
