"""blockzoo.train.throughput (the layer-sum ceiling, the parts of a train() call) and the speed defaults train()
applies; no timing is checked, only what is timed and what is applied."""
from __future__ import annotations

import lightning as L
import pytest
import torch
from torch import nn

from blockzoo.cell import Cell
from blockzoo.settings import DataSettings, ScaffoldSpec, TrainSettings
from blockzoo.train.run import train
from blockzoo.train.throughput import PhaseTimer, layer_sum_ceiling, layer_times, leaf_modules, mark_network_input

NARROW = ScaffoldSpec(num_blocks=1, base_channels=8, num_classes=10, in_chans=1)


def test_each_layer_is_timed_once_per_call_and_no_container_is_timed():
    net = Cell("ResNetBasicBlock", None, NARROW).build()
    leaves = dict(leaf_modules(net))
    assert "stem.0" in leaves and "mid" not in leaves and "mid.0" not in leaves and "" not in leaves
    assert all(not list(module.children()) for module in leaves.values())
    mark_network_input(net)
    times = layer_times(net, torch.randn(4, 1, 32, 32), repeats=1, warmup=0)
    assert sorted(t.name for t in times) == sorted(leaves)  # every layer once: none of this net is called twice
    assert {t.kind for t in times} >= {"Conv2d", "BatchNorm2d", "ReLU", "Linear"}
    assert all(t.seconds == 0 for t in times if t.kind == "Identity")  # returns its input: no work of its own
    assert all(t.seconds > 0 for t in times if t.kind in ("Conv2d", "BatchNorm2d"))


def test_a_layer_called_twice_is_timed_twice():
    conv = nn.Conv2d(2, 2, 3, padding=1)

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = conv

        def forward(self, x):
            return self.conv(self.conv(x))

    assert [t.name for t in layer_times(Twice(), torch.randn(2, 2, 8, 8), repeats=1, warmup=0)] == ["conv", "conv"]


def test_the_ceiling_is_the_batch_over_the_summed_layer_times():
    net = Cell("ResNetBasicBlock", None, NARROW).build()
    images_per_s, times = layer_sum_ceiling(net, 8, (1, 32, 32), channels_last=True, repeats=1)
    assert images_per_s == pytest.approx(8 / sum(t.seconds for t in times))
    assert net.stem[0].weight.is_contiguous()  # the caller's network is left as it was


class Formats(L.Callback):
    """What the training steps see: the batch's and the convolution weights' memory formats."""

    def __init__(self):
        self.batches, self.weights = [], []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.batches.append(batch[0].is_contiguous(memory_format=torch.channels_last))
        self.weights.append(pl_module.net.stem[0].weight.is_contiguous(memory_format=torch.channels_last))


@pytest.mark.parametrize("channels_last", [None, False])
def test_train_applies_channels_last_by_default_and_times_its_parts(tmp_path, fake_cifar100, channels_last):
    formats, timer = Formats(), PhaseTimer()
    data = DataSettings(archive=str(fake_cifar100.path), md5=fake_cifar100.md5, val_size=64)
    settings = TrainSettings(epochs=2, batch_size=16, limit_train_batches=2, device="cpu", channels_last=channels_last)
    train(Cell("ResNetBasicBlock", "mid", ScaffoldSpec(num_blocks=1, base_channels=8)), settings, data,
          out_dir=tmp_path / "run", data_dir=tmp_path / "data", progress=False, callbacks=[formats, timer])
    on = channels_last is None  # the default: channels-last (the narrow scaffold's loop: contiguous x0.75)
    assert formats.batches == [on] * 4 and formats.weights == [on] * 4
    assert set(timer.seconds) == {"fit set-up", "training", "validation", "test"}
    assert all(seconds >= 0 for seconds in timer.seconds.values()) and timer.seconds["training"] > 0
