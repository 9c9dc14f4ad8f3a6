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
from blockzoo.dynamic.run import ACCURACY_MARGIN
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
    # within the margin a run warns beyond (3 points held on one machine; AMD EPYC's numerics gave 3.96)
    assert large["test_acc"] >= static_acc - ACCURACY_MARGIN, (large["test_acc"], static_acc)
    assert large["flops_per_image_mean"] <= large["flops_static"]
    assert (trained_cell[2] / "gamma-large" / "images_by_blocks.png").is_file()
    # the record says which epoch and stage were selected, and what every epoch scored at the run's gamma
    history = json.loads(large["history"])
    assert [e["stage"] for e in history] == ["curriculum"] * 3 + ["finetune"] * 2
    chosen = next(e for e in history if e["epoch"] == large["best_epoch"])
    assert chosen["stage"] == large["selected_stage"] and chosen["val_reward"] == pytest.approx(large["val_reward"])
    assert chosen["val_reward"] == max(e["val_reward"] for e in history if e["decided"] == 6)
    # a policy that loses more than 5 points says so; one within them does not
    assert large["accuracy_warning"] == ""
    assert bool(small["accuracy_warning"]) == (small["test_acc_static"] - small["test_acc"] > 0.05)
    assert 0 < large["break_even"] < 1 and large["flops_blockdrop_static"] > large["flops_static"]


def test_cli_says_which_command_trains_a_missing_cell(tmp_path):
    done = subprocess.run([sys.executable, "-m", "blockzoo.dynamic", "RepMixer", "--position", "mid", "--runs",
                           str(tmp_path)], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "no trained checkpoint" in done.stderr and "python -m blockzoo.train RepMixer --position mid" in done.stderr
    json.dumps(done.stderr)


# --- model selection at one gamma, BlockDrop's training and its networks, the policy's cost, the CLI's bad input ---

class StubNet(torch.nn.Module):
    """A 'droppable network' whose answers are fixed by the policy it runs: every block on, right for 90% of
    the images; every block off, right for 60%. Labels ride in x[:, 0]; x[:, 1] and x[:, 2] mark the images each
    policy gets right."""

    num_droppable = 3

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x, keep=None):
        labels = x[:, 0].long()
        if keep is None or bool(keep.all()):
            right = x[:, 1] > 0
        elif not bool(keep.any()):
            right = x[:, 2] > 0
        else:
            right = (x[:, 1] > 0) & (x[:, 2] > 0)
        answer = torch.where(right, labels, (labels + 1) % 10)
        return torch.nn.functional.one_hot(answer, 10).float() * 10 + self.weight * 0


class StubPolicy(torch.nn.Module):
    """Drops every block in the curriculum epochs, keeps every block in fine-tuning (`finetuning` set by the test)."""

    def __init__(self):
        super().__init__()
        self.bias = torch.nn.Parameter(torch.zeros(1))
        self.finetuning = False

    def forward(self, x):
        level = 20.0 if self.finetuning else -20.0
        return torch.sigmoid(self.bias * 0 + torch.full((len(x), 3), level))


class StubBatches:
    """One batch of 100 'images' (a loader Lightning takes as one, not as a list of loaders)."""

    def __init__(self, n: int = 100):
        self.x = torch.zeros(n, 3)
        self.x[:, 0] = torch.arange(n) % 10
        self.x[: int(0.9 * n), 1] = 1  # all blocks on: 90% right
        self.x[: int(0.6 * n), 2] = 1  # all blocks off: 60% right

    def __len__(self):
        return 1

    def __iter__(self):
        return iter([(self.x, self.x[:, 0].long())])


def test_selection_scores_every_epoch_at_the_runs_gamma(tmp_path):
    """At penalty 1 the curriculum's all-drop policy (60% right: reward 0.6 - 0.4 = 0.2) beats fine-tuning's
    all-keep one (90% right at reward 0: -0.1); at the run's gamma 5 it is -1.4 against -0.5. The run is one
    gamma: the fine-tuning epoch must be selected (the old selection scored the curriculum at 1 and took it)."""
    import lightning as L

    from blockzoo.dynamic.module import BlockDropModule, Schedule, selected_entry
    from blockzoo.dynamic.run import fit

    policy = StubPolicy()

    class Stage(L.Callback):
        def on_train_epoch_start(self, trainer, module):
            policy.finetuning = module.finetuning()

    schedule = Schedule(curriculum_epochs=1, finetune_epochs=1, gamma=5.0, curriculum_gamma=1.0)
    module = BlockDropModule(StubNet(), policy, schedule)
    history = fit(module, StubBatches(), StubBatches(), tmp_path, steps=1, callbacks=[Stage()])
    assert [(e["stage"], round(e["val_acc"], 2), e["val_blocks_used"]) for e in history] == [
        ("curriculum", 0.6, 0.0), ("finetune", 0.9, 3.0)]
    assert [round(e["val_reward"], 3) for e in history] == [-1.4, -0.5]  # both at gamma 5
    chosen = selected_entry(history, 3)
    assert (chosen["epoch"], chosen["stage"]) == (1, "finetune")
    saved = torch.load(tmp_path / "checkpoints" / "best.ckpt", weights_only=True)
    assert saved["epoch"] == 1  # the checkpoint kept is that epoch's (Lightning counts the epochs done... -1)


def test_blockdrops_entropy_term_pulls_towards_0_28_and_finetuning_decays_the_lr():
    from blockzoo.dynamic.module import Schedule

    logits = torch.zeros(1, 5, requires_grad=True)
    optimizer = torch.optim.Adam([logits], lr=0.05)
    for _ in range(400):  # the entropy bonus alone (zero advantage): its optimum
        optimizer.zero_grad()
        policy_loss(torch.sigmoid(logits), torch.ones(1, 5), torch.zeros(1), curriculum_mask(5, 5),
                    entropy_weight=0.1).backward()
        optimizer.step()
    # BlockDrop's -p' log p' (on the bounded p') is largest at p' = 1/e: p = (1/e - 0.2) / 0.6
    assert torch.sigmoid(logits).detach() == pytest.approx(torch.full((1, 5), (1 / torch.e - 0.2) / 0.6), abs=1e-3)
    s = Schedule(curriculum_epochs=3, finetune_epochs=10, finetune_lr=1e-4)
    assert [s.finetune_lr_at(e) for e in range(3, 13)] == pytest.approx([1e-4] * 8 + [1e-5] * 2)
    assert Schedule(0, 1, finetune_lr=1e-4).finetune_lr_at(0) == 1e-4  # one epoch: nothing to decay


def test_blockdrops_cifar_resnets_by_hand():
    """ResNet-32 and ResNet-110 as BlockDrop builds them (ResNetBasicBlock.cifar in every stage: identity
    shortcuts, average pool + zero-padded channels where the shape changes), against counts made by hand.

    Parameters (c: the stage width; a block c->c: two 3x3 convs 18c^2, two BN 4c; the transition c/2->c:
    9(c/2)c + 9c^2 + 4c): stem 3*16*9 + 16 (its bias) + 32 (BN) = 480; per 16-wide block 4672; the 32-wide
    transition 13952, then 18560 each; the 64-wide transition 55552, then 73984 each; head 64*10 + 10 = 650.
    ResNet-32 (n = 5): 480 + 5*4672 + 13952 + 4*18560 + 55552 + 4*73984 + 650 = 464170.
    ResNet-110 (n = 18): 480 + 18*4672 + 13952 + 17*18560 + 55552 + 17*73984 + 650 = 1727978.
    BlockDrop's FLOPs (2 x MACs of conv + linear): stem 32*32*16*27 = 442368 MACs; a 16-wide block at 32x32
    2 * 1024*16*144 = 4718592; the transitions 256*32*144 + 256*32*288 = 3538944 and 64*64*288 + 64*64*576 =
    3538944; the other 32- and 64-wide blocks 4718592 each; head 640.
    ResNet-110: 2 * (442368 + 18*4718592 + 2*(3538944 + 17*4718592) + 640) = 505775360 (the paper: 5.06e8).
    ResNet-32: 2 * (442368 + 5*4718592 + 2*(3538944 + 4*4718592) + 640) = 137725184.
    """
    from blockzoo.cell import count_parameters
    from blockzoo.dynamic.measure import blockdrop_flops
    from blockzoo.macro.networks import ZooMacroCell

    for n, params, flops in ((5, 464170, 137725184), (18, 1727978, 505775360)):
        net = ZooMacroCell(("ResNetBasicBlock.cifar",) * 3, ScaffoldSpec(num_blocks=n, base_channels=16,
                                                                         num_classes=10)).build()
        assert count_parameters(net) == params
        assert blockdrop_flops(net, torch.zeros(1, 3, 32, 32)) == flops
        droppable = DroppableNet(net)
        assert droppable.num_droppable == 3 * n  # every block, the transitions too (parameter-free shortcut)
        assert sum(isinstance(u.shortcut, ParameterFreeShortcut) for u in droppable.units) == 2
        assert not any(isinstance(m, torch.nn.Conv2d) and m.kernel_size == (1, 1) for m in net.modules())


def test_the_policy_is_sized_to_its_base_and_the_plan_says_what_it_costs(capsys):
    from blockzoo.dynamic.__main__ import main

    small = PolicyNet(6, in_chans=1, widths=(8, 16, 32), input_size=16)
    assert small(torch.randn(2, 1, 32, 32)).shape == (2, 6)
    image = torch.zeros(1, 1, 32, 32)
    assert count_flops(small, image).total < count_flops(PolicyNet(6, 1), image).total / 10
    assert main(["resnet32", "--dataset", "cifar10", "--plan"]) == 0
    out = capsys.readouterr().out
    assert "K = 15 droppable blocks" in out and "BlockDrop's 2 x MACs" in out and "warning" not in out
    # the try-out's narrow base with BlockDrop's full-resolution policy: it cannot pay for itself, and says so
    assert main(["ResNetBasicBlock", "--num-blocks", "1", "--base-channels", "16", "--dataset", "fashion-mnist",
                 "--policy-input-size", "32", "--plan"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and "warning: the policy must skip" in lines[1]


def fake_checkpoint(path: Path, base_channels: int, config: bool = True) -> Path:
    """A training run's best.ckpt of the baseline at 2 blocks per stage on Fashion-MNIST, and its config.json."""
    cell = Cell("ResNetBasicBlock", "mid", ScaffoldSpec(num_blocks=2, base_channels=base_channels, num_classes=10,
                                                        in_chans=1))
    ckpt = path / "checkpoints" / "best.ckpt"
    ckpt.parent.mkdir(parents=True)
    torch.save({"state_dict": {f"net.{k}": v for k, v in cell.build().state_dict().items()}}, ckpt)
    if config:
        (path / "config.json").write_text(json.dumps({"scaffold": cell.scaffold.to_dict(),
                                                      "data": {"dataset": "fashion-mnist", "val_size": 1000,
                                                               "split_seed": 0}}))
    return ckpt


BAD_INPUT = [  # (arguments, what the one line must say)
    (["--gamma", "nan"], "argument --gamma: must be a number in [0, 1e+06]"),
    (["--gamma", "-5"], "a negative one would reward it"),
    (["--alpha", "2"], "argument --alpha: must be a number in (0.5, 1) (the weight of the policy's own probability"),
    (["--alpha", "0.3"], "below it inverts the policy"),
    (["--batch-size", "0"], "argument --batch-size: must be an integer from 1 to 65536 (images per step)"),
    (["--curriculum-epochs", "-1"], "argument --curriculum-epochs"),
    (["--finetune-lr", "inf"], "argument --finetune-lr: must be a number in (0, 1] (Adam's learning rate)"),
    (["--lr-decay-at", "1.5"], "argument --lr-decay-at: must be a number in [0, 1]"),
    (["--policy-widths", "8,16"], "must be three widths"),
    (["--policy-input-size", "2"], "argument --policy-input-size"),
    (["--seed", "-1"], "argument --seed"),
    (["--curriculum-epochs", "0", "--finetune-epochs", "0"], "train at least one epoch"),
    (["--checkpoint", "{tmp}/notes.txt"], "is not a training checkpoint"),
    (["--checkpoint", "{tmp}/missing.ckpt"], "is not a file"),
    # a checkpoint of the same block at another width, no run beside it to say which
    (["--checkpoint", "{tmp}/bare/checkpoints/best.ckpt", "--num-blocks", "2", "--dataset", "fashion-mnist"],
     "is not a checkpoint of ResNetBasicBlock at this scaffold"),
    # a flag that contradicts the trained run
    (["--runs", "{tmp}/runs", "--base-channels", "32"], "the trained run was made with --base-channels 8, not 32"),
    (["resnet110", "--position", "mid", "--plan"], "is a whole network: give no --position"),
    (["GhostBottleneckV3"], "needs --position"),
]


@pytest.mark.parametrize("arguments,message", BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_cli_bad_input_is_one_line_before_any_work(arguments, message, tmp_path, capsys, monkeypatch):
    from blockzoo.dynamic import run
    from blockzoo.dynamic.__main__ import main

    (tmp_path / "notes.txt").write_text("not a checkpoint")
    fake_checkpoint(tmp_path / "bare", base_channels=8, config=False)
    fake_checkpoint(tmp_path / "runs" / "ResNetBasicBlock-s0", base_channels=8)
    monkeypatch.setattr(run, "train_dynamic", lambda *a, **k: pytest.fail("reached training"))
    arguments = [a.replace("{tmp}", str(tmp_path)) for a in arguments]
    if not arguments[0].startswith(("resnet", "Ghost")):
        arguments = ["ResNetBasicBlock", "--position", "mid", *arguments]
    assert main(arguments) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err


def test_cli_takes_the_scaffold_of_the_trained_run(tmp_path, monkeypatch):
    """The README's command on a try-out cell (a narrow scaffold): no scaffold flags, the run's own are used."""
    from blockzoo.dynamic import run
    from blockzoo.dynamic.__main__ import main
    from blockzoo.errors import BlockzooError

    fake_checkpoint(tmp_path / "runs" / "ResNetBasicBlock-s0", base_channels=8)
    seen = {}

    def reached(cell, checkpoint, settings, data, **kwargs):
        seen.update(cell=cell, data=data)
        raise BlockzooError("reached training")

    monkeypatch.setattr(run, "train_dynamic", reached)
    assert main(["ResNetBasicBlock", "--position", "mid", "--seed", "0", "--runs", str(tmp_path / "runs")]) == 2
    assert (seen["cell"].scaffold.num_blocks, seen["cell"].scaffold.base_channels) == (2, 8)
    assert (seen["cell"].scaffold.in_chans, seen["data"].dataset, seen["data"].val_size) == (1, "fashion-mnist", 1000)
