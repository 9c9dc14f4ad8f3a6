"""blockzoo.train on CPU: a tiny net, a few batches of the fake CIFAR-100 archive.

One completed run (module fixture) is shared by the record, re-run and resume tests.
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch

from blockzoo import ScaffoldNet, results
from blockzoo.train import TrainConfig, main, to_channels_last, train

REPO = Path(__file__).resolve().parent.parent
EPOCHS = 3


class Killed(Exception):
    """Stands for the process dying."""


class KillAtEpochEnd(L.Callback):
    """Dies at the end of `epoch`: after its metrics are logged, before its checkpoint is saved
    (ModelCheckpoint runs after the other callbacks), the worst moment to be killed."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_train_epoch_end(self, trainer, pl_module):
        if trainer.current_epoch == self.epoch:
            raise Killed()


class EpochsStarted(L.Callback):
    def __init__(self):
        self.epochs: list[int] = []

    def on_train_epoch_start(self, trainer, pl_module):
        self.epochs.append(trainer.current_epoch)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("data")


def tiny(out_dir: Path, fake, data_root: Path, **overrides) -> TrainConfig:
    settings = dict(data_root=str(data_root), data_archive=str(fake.path), data_md5=fake.md5, val_size=200,
                    epochs=EPOCHS, batch_size=32, num_blocks=1, base_channels=8, limit_train_batches=2,
                    device="cpu", progress=False, out_dir=str(out_dir))
    return TrainConfig("ResNetBasicBlock", "mid", **{**settings, **overrides})


def metric_rows(out_dir: Path, name: str) -> list[tuple[int, float]]:
    with open(out_dir / "live" / "plots" / "metrics" / f"{name}.tsv", newline="") as f:
        return [(int(row["step"]), float(row[name])) for row in csv.DictReader(f, delimiter="\t")]


@pytest.fixture(scope="module")
def completed(tmp_path_factory, fake_cifar100, data_root):
    out_dir = tmp_path_factory.mktemp("completed")
    return out_dir, train(tiny(out_dir, fake_cifar100, data_root))


def test_tiny_run_writes_a_complete_record_and_its_files(completed):
    out_dir, record = completed
    results.validate(record)
    assert results.read_record(out_dir / "record.json") == json.loads(json.dumps(record))
    t = record["train"]
    assert (t["status"], t["epochs"], t["epochs_run"], t["diverged_epoch"]) == ("completed", EPOCHS, EPOCHS, None)
    assert (t["dataset"], t["recipe"], t["batch_size"], t["precision"]) == ("cifar100", "sgd", 32, "32-true")
    assert 0 <= t["best_epoch"] < EPOCHS
    assert 0 <= t["val_acc"] <= 1 and 0 <= t["test_acc"] <= 1 and t["val_loss"] > 0 and t["test_loss"] > 0
    assert t["throughput"] > 0 and t["wall_time_s"] > 0 and t["env"]["device"] == "cpu"
    assert record["scaffold"] == {"num_blocks": 1, "base_channels": 8, "num_classes": 100, "in_chans": 3, "input_size": 32}
    for path in ("checkpoints/best.ckpt", "checkpoints/last.ckpt", "live/metrics.json", "config.json"):
        assert (out_dir / path).is_file(), path
    assert not list(out_dir.rglob("dvc.yaml"))
    for name in ("train_loss", "train_acc", "val_loss", "val_acc"):
        assert [step for step, _ in metric_rows(out_dir, name)] == list(range(EPOCHS)), name
    best_row = metric_rows(out_dir, "val_acc")[t["best_epoch"]]
    assert best_row[1] == pytest.approx(t["val_acc"]) == max(v for _, v in metric_rows(out_dir, "val_acc"))
    assert json.loads((out_dir / "live" / "metrics.json").read_text())["step"] == EPOCHS - 1


def test_a_finished_run_is_returned_not_trained_again(completed, fake_cifar100, data_root):
    out_dir, record = completed
    last = out_dir / "checkpoints" / "last.ckpt"
    before = last.stat().st_mtime_ns
    started = EpochsStarted()
    assert train(tiny(out_dir, fake_cifar100, data_root), callbacks=[started]) == json.loads(json.dumps(record))
    assert started.epochs == [] and last.stat().st_mtime_ns == before


def test_a_killed_run_resumes_from_last_checkpoint_and_continues_its_log(completed, tmp_path, fake_cifar100, data_root):
    cfg = tiny(tmp_path, fake_cifar100, data_root)
    with pytest.raises(Killed):
        train(cfg, callbacks=[KillAtEpochEnd(1)])
    assert not (tmp_path / "record.json").exists()
    assert [step for step, _ in metric_rows(tmp_path, "val_acc")] == [0, 1]  # epoch 1 logged, never checkpointed

    started = EpochsStarted()
    record = train(cfg, callbacks=[started])
    assert started.epochs == [1, 2]  # from last.ckpt (epoch 0), not from scratch
    results.validate(record)
    assert record["train"]["status"] == "completed" and record["train"]["epochs_run"] == EPOCHS
    for name in ("train_loss", "val_loss", "val_acc"):
        rows = metric_rows(tmp_path, name)
        assert [step for step, _ in rows] == list(range(EPOCHS)), name  # each epoch once
        # the same numbers as the run that was never killed: same data order, same weights
        assert [v for _, v in rows] == pytest.approx([v for _, v in metric_rows(completed[0], name)], rel=1e-5), name
    for key in ("best_epoch", "val_acc", "test_acc", "test_loss"):
        assert record["train"][key] == pytest.approx(completed[1]["train"][key], rel=1e-5), key


def test_seed_decides_the_first_epoch(completed, tmp_path, fake_cifar100, data_root):
    first_loss = metric_rows(completed[0], "train_loss")[0][1]
    for seed, same in ((0, True), (1, False)):
        out_dir = tmp_path / f"seed{seed}"
        with pytest.raises(Killed):
            train(tiny(out_dir, fake_cifar100, data_root, seed=seed), callbacks=[KillAtEpochEnd(0)])
        loss = metric_rows(out_dir, "train_loss")[0][1]
        assert (loss == first_loss) is same, (seed, loss, first_loss)


def test_channels_last_converts_4d_tensors_and_keeps_5d_ones():
    net = to_channels_last(ScaffoldNet("DYMicroBlock", "mid", num_blocks=1, base_channels=8))  # has 5-D buffers
    assert net.stem[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert any(b.dim() == 5 for b in net.buffers())
    net(torch.randn(2, 3, 32, 32).contiguous(memory_format=torch.channels_last)).sum().backward()


def test_huge_learning_rate_is_recorded_as_diverged(tmp_path, fake_cifar100, data_root):
    record = train(tiny(tmp_path, fake_cifar100, data_root, lr=1e6))
    results.validate(record)
    t = record["train"]
    assert (t["status"], t["diverged_epoch"], t["epochs_run"], t["recipe"]) == ("diverged", 0, 1, "sgd(lr=1e+06)")
    assert t["best_epoch"] is None and t["test_acc"] is None  # no finite epoch, no best checkpoint
    assert results.read_record(tmp_path / "record.json")["train"]["status"] == "diverged"

    # the same folder with other settings is another run: it starts afresh instead of returning that record
    record = train(tiny(tmp_path, fake_cifar100, data_root, epochs=1))
    assert (record["train"]["status"], record["train"]["epochs_run"], record["train"]["recipe"]) == ("completed", 1, "sgd")
    assert json.loads((tmp_path / "config.json").read_text())["epochs"] == 1


NAN_BLOCK = '''
import torch
from torch import nn
from blockzoo import register_block


class NaNAfter(nn.Module):
    """A 1x1 conv whose output turns NaN after `limit` training forward passes."""

    def __init__(self, in_channels, out_channels, stride, limit=2):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1, stride=stride)
        self.calls, self.limit = 0, limit

    def forward(self, x):
        y = self.conv(x)
        if self.training:
            self.calls += 1
            if self.calls > self.limit:
                y = y * float("nan")
        return y


@register_block("NaNAfterTwoSteps")
def nan_after_two_steps(in_channels, out_channels, stride, position):
    return NaNAfter(in_channels, out_channels, stride)
'''


def test_a_block_that_emits_nan_later_keeps_its_best_finite_epoch(tmp_path, fake_cifar100, data_root):
    module = tmp_path / "nan_block.py"
    module.write_text(NAN_BLOCK)
    cfg = tiny(tmp_path / "run", fake_cifar100, data_root, block_modules=(str(module),))
    cfg.block = "NaNAfterTwoSteps"
    record = train(cfg)  # epoch 0 has two finite steps; epoch 1's first step is NaN
    results.validate(record)
    t = record["train"]
    assert (t["status"], t["diverged_epoch"], t["epochs_run"], t["best_epoch"]) == ("diverged", 1, 2, 0)
    assert 0 <= t["test_acc"] <= 1 and t["test_loss"] > 0
    assert [step for step, _ in metric_rows(tmp_path / "run", "val_acc")] == [0]


def test_cli_trains_and_writes_the_record(tmp_path, fake_cifar100, data_root):
    out_dir = tmp_path / "cli"
    proc = subprocess.run(
        [sys.executable, "-m", "blockzoo.train", "ResNetBasicBlock", "--position", "late", "--epochs", "1",
         "--data-root", str(data_root), "--data-url", fake_cifar100.url, "--data-md5", fake_cifar100.md5,
         "--val-size", "100", "--batch-size", "50", "--num-blocks", "1", "--base-channels", "8",
         "--limit-train-batches", "1", "--device", "cpu", "--recipe", "blockzoo", "--out-dir", str(out_dir), "--no-progress"],
        cwd=REPO, capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONWARNINGS": "default"})
    assert proc.returncode == 0, proc.stderr
    record = results.read_record(out_dir / "record.json")
    assert (record["position"], record["train"]["recipe"], record["train"]["status"]) == ("late", "blockzoo", "completed")
    assert str(out_dir / "record.json") in proc.stdout
    noise = ("GPU available", "TPU available", "does not have many workers", "LeafSpec", "Tip:", "Traceback")
    assert not [line for line in (proc.stdout + proc.stderr).splitlines() if any(n in line for n in noise)]


def test_cli_bad_option_is_one_error_line_and_exit_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "blockzoo.train", "ResNetBasicBlock", "--position", "mid", "--recipe", "adamw",
                           "--out-dir", str(tmp_path / "x")], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [proc.stderr.strip()] and proc.stderr.startswith("error: unknown recipe 'adamw'")
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("argv,fragment", [
    (["--dataset", "imagenet"], "unknown dataset 'imagenet'"),
    (["--precision", "fp8"], "unknown precision 'fp8'"),
    (["--epochs", "0"], "epochs must be a positive integer"),
    (["--lr", "-1"], "lr must be a positive number"),
    (["--device", "tpu"], "unknown device 'tpu'"),
    (["--device", "mps"], "device 'mps' is not supported"),
    (["--position", "middle"], "unknown position 'middle'"),
    (["--frobnicate"], "unrecognized arguments: --frobnicate"),
])
def test_cli_errors_in_process(argv, fragment, tmp_path, capsys):
    args = ["ResNetBasicBlock", "--position", "mid", "--out-dir", str(tmp_path / "x")]
    assert main([*args, *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and fragment in err, err
    assert not (tmp_path / "x").exists()


def test_cli_unknown_block_names_the_fix(tmp_path, capsys):
    assert main(["ResNetBasicBlok", "--position", "mid", "--out-dir", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown block 'ResNetBasicBlok'; did you mean ResNetBasicBlock")
