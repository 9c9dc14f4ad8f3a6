"""blockzoo.train on CPU: a tiny net, a few batches of the fake CIFAR-100 archive.

One completed run (module fixture) is shared by the record, re-run and resume tests.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
import torch

from blockzoo import BlockzooError, ScaffoldNet, results
from blockzoo.blocks import import_block_modules, unregister_block
from blockzoo.cell import Cell
from blockzoo.settings import DataSettings, ScaffoldSpec, TrainSettings
from blockzoo.train import run as train_run
from blockzoo.train.__main__ import main
from blockzoo.train.allocator import keep_freed_memory
from blockzoo.train.module import ScaffoldModule, to_channels_last
from blockzoo.train.recipes import RECIPES
from blockzoo.train.run import train

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


def tiny(out_dir: Path, fake, data_root: Path, *, block="ResNetBasicBlock", seed=0, callbacks=(), **overrides) -> dict:
    """Train a tiny run: one block per stage at width 8, two batches of 32 per epoch."""
    data = DataSettings(archive=str(fake.path), md5=fake.md5, val_size=200)
    settings = TrainSettings(**{"epochs": EPOCHS, "batch_size": 32, "limit_train_batches": 2, "device": "cpu",
                                **overrides})
    cell = Cell(block, "mid", ScaffoldSpec(num_blocks=1, base_channels=8))
    return train(cell, settings, data, seed=seed, out_dir=out_dir, data_dir=data_root, progress=False,
                 callbacks=callbacks)


def metric_rows(out_dir: Path, name: str) -> list[tuple[int, float]]:
    with open(out_dir / "live" / "plots" / "metrics" / f"{name}.tsv", newline="") as f:
        return [(int(row["step"]), float(row[name])) for row in csv.DictReader(f, delimiter="\t")]


@pytest.fixture(scope="module")
def completed(tmp_path_factory, fake_cifar100, data_root):
    out_dir = tmp_path_factory.mktemp("completed")
    return out_dir, tiny(out_dir, fake_cifar100, data_root)


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
    assert record["scaffold"] == {"num_blocks": 1, "base_channels": 8, "num_classes": 100, "in_chans": 3,
                                  "input_size": 32}
    for path in ("checkpoints/best.ckpt", "checkpoints/last.ckpt", "live/metrics.json", "config.json"):
        assert (out_dir / path).is_file(), path
    assert not list(out_dir.rglob("dvc.yaml"))
    for name in ("train_loss", "train_acc", "val_loss", "val_acc"):
        assert [step for step, _ in metric_rows(out_dir, name)] == list(range(EPOCHS)), name
    best_row = metric_rows(out_dir, "val_acc")[t["best_epoch"]]
    assert best_row[1] == pytest.approx(t["val_acc"]) == max(v for _, v in metric_rows(out_dir, "val_acc"))
    assert json.loads((out_dir / "live" / "metrics.json").read_text())["step"] == EPOCHS - 1


def test_compiled_run_learns_the_same_network_and_reports_its_compile_time(completed, tmp_path, fake_cifar100,
                                                                         data_root):
    _, eager = completed
    record = tiny(tmp_path, fake_cifar100, data_root, compile=True)
    results.validate(record)
    t = record["train"]
    assert t["compiled"] and not eager["train"]["compiled"] and t["status"] == "completed"
    assert t["first_epoch_excess_s"] > 1  # the compilation, in the first epoch, outside the steady throughput
    # checkpoints of a compiled run hold the eager network's keys: either loads into the other
    saved = torch.load(tmp_path / "checkpoints" / "best.ckpt", weights_only=True)["state_dict"]
    assert sorted(saved) == sorted(ScaffoldModule(Cell("ResNetBasicBlock", "mid", ScaffoldSpec(1, 8)).build(),
                                                  RECIPES["sgd"], steps_per_epoch=2, epochs=EPOCHS).state_dict())


def test_the_cpu_allocator_keeps_freed_memory():
    assert keep_freed_memory() == sys.platform.startswith("linux")  # glibc here; a no-op elsewhere
    assert keep_freed_memory() == sys.platform.startswith("linux")  # once per process, then a no-op


def test_a_finished_run_is_trained_again_from_scratch(tmp_path, fake_cifar100, data_root, capsys):
    # Deciding what is already done is DVC's job: train() asked again trains again.
    tiny(tmp_path, fake_cifar100, data_root, epochs=1)
    started = EpochsStarted()
    record = tiny(tmp_path, fake_cifar100, data_root, epochs=1, callbacks=[started])
    assert started.epochs == [0] and record["train"]["status"] == "completed"
    assert "a finished run; training it again from scratch" in capsys.readouterr().err


class LastCheckpointEpochs(L.Callback):
    """At each epoch start: how many finished epochs last.ckpt holds."""

    def __init__(self, folder: Path):
        self.folder, self.seen = folder, []

    def on_train_epoch_start(self, trainer, pl_module):
        path = self.folder / "checkpoints" / "last.ckpt"
        if path.is_file():
            self.seen.append(len(torch.load(path, weights_only=True)["blockzoo"]["history"]))


def test_last_checkpoint_is_written_every_epoch(tmp_path, fake_cifar100, data_root):
    seen = LastCheckpointEpochs(tmp_path)
    tiny(tmp_path, fake_cifar100, data_root, lr=1e-9, callbacks=[seen])  # no learning: val acc rarely improves
    assert seen.seen == [1, 2]


def test_a_killed_run_resumes_from_last_checkpoint_and_continues_its_log(completed, tmp_path, fake_cifar100, data_root):
    with pytest.raises(Killed):
        tiny(tmp_path, fake_cifar100, data_root, callbacks=[KillAtEpochEnd(1)])
    assert not (tmp_path / "record.json").exists()
    assert [step for step, _ in metric_rows(tmp_path, "val_acc")] == [0, 1]  # epoch 1 logged, never checkpointed

    started = EpochsStarted()
    record = tiny(tmp_path, fake_cifar100, data_root, callbacks=[started])
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


def test_a_killed_run_of_other_code_or_settings_starts_afresh(tmp_path, fake_cifar100, data_root, monkeypatch, capsys):
    with pytest.raises(Killed):
        tiny(tmp_path, fake_cifar100, data_root, callbacks=[KillAtEpochEnd(1)])
    code = train_run.loaded_code()
    monkeypatch.setattr(train_run, "loaded_code", lambda: {**code, "blockzoo/train/run.py": "edited"})
    started = EpochsStarted()
    tiny(tmp_path, fake_cifar100, data_root, callbacks=[started])
    assert started.epochs == [0, 1, 2]
    assert "was made by other code (blockzoo/train/run.py); starting afresh" in capsys.readouterr().err
    assert [step for step, _ in metric_rows(tmp_path, "val_acc")] == [0, 1, 2]

    with pytest.raises(Killed):  # and after a change of settings
        tiny(tmp_path / "b", fake_cifar100, data_root, callbacks=[KillAtEpochEnd(1)])
    started = EpochsStarted()
    tiny(tmp_path / "b", fake_cifar100, data_root, lr=0.05, callbacks=[started])
    assert started.epochs == [0, 1, 2] and "other settings (train, recipe)" in capsys.readouterr().err


def test_a_failed_start_never_touches_a_finished_run(completed, fake_cifar100, data_root):
    out_dir, _ = completed
    before = {p: p.stat().st_mtime_ns for p in out_dir.rglob("*") if p.is_file()}
    with pytest.raises(BlockzooError, match="does not exist"):
        train(Cell("ResNetBasicBlock", "mid", ScaffoldSpec(num_blocks=1, base_channels=8)), TrainSettings(device="cpu"),
              DataSettings(archive="/nowhere/cifar-100-python.tar.gz"), out_dir=out_dir, data_dir=data_root / "other")
    with pytest.raises(BlockzooError, match="unknown block"):
        tiny(out_dir, fake_cifar100, data_root, block="NoSuchBlock")
    assert {p: p.stat().st_mtime_ns for p in out_dir.rglob("*") if p.is_file()} == before


def test_seed_decides_the_first_epoch(completed, tmp_path, fake_cifar100, data_root):
    first_loss = metric_rows(completed[0], "train_loss")[0][1]
    for seed, same in ((0, True), (1, False)):
        out_dir = tmp_path / f"seed{seed}"
        with pytest.raises(Killed):
            tiny(out_dir, fake_cifar100, data_root, seed=seed, callbacks=[KillAtEpochEnd(0)])
        loss = metric_rows(out_dir, "train_loss")[0][1]
        assert (loss == first_loss) is same, (seed, loss, first_loss)


def test_channels_last_converts_4d_tensors_and_keeps_5d_ones():
    net = to_channels_last(ScaffoldNet("DYMicroBlock", "mid", num_blocks=1, base_channels=8))  # has 5-D buffers
    assert net.stem[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert any(b.dim() == 5 for b in net.buffers())
    net(torch.randn(2, 3, 32, 32).contiguous(memory_format=torch.channels_last)).sum().backward()


def test_huge_learning_rate_is_recorded_as_diverged(tmp_path, fake_cifar100, data_root):
    record = tiny(tmp_path, fake_cifar100, data_root, lr=1e6)
    results.validate(record)
    t = record["train"]
    assert (t["status"], t["diverged_epoch"], t["epochs_run"], t["recipe"]) == ("diverged", 0, 1, "sgd(lr=1e+06)")
    assert t["best_epoch"] is None and t["test_acc"] is None  # no finite epoch, no best checkpoint
    assert results.read_record(tmp_path / "record.json")["train"]["status"] == "diverged"

    # the same folder with other settings is another run: it starts afresh
    record = tiny(tmp_path, fake_cifar100, data_root, epochs=1)
    assert (record["train"]["status"], record["train"]["epochs_run"],
            record["train"]["recipe"]) == ("completed", 1, "sgd")
    assert json.loads((tmp_path / "config.json").read_text())["train"]["epochs"] == 1


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
    import_block_modules([str(module)])
    try:
        # epoch 1's first step is NaN
        record = tiny(tmp_path / "run", fake_cifar100, data_root, block="NaNAfterTwoSteps")
    finally:
        unregister_block("NaNAfterTwoSteps")
    results.validate(record)
    t = record["train"]
    assert (t["status"], t["diverged_epoch"], t["epochs_run"], t["best_epoch"]) == ("diverged", 1, 2, 0)
    assert 0 <= t["test_acc"] <= 1 and t["test_loss"] > 0
    assert [step for step, _ in metric_rows(tmp_path / "run", "val_acc")] == [0]


def tiny_cli(fake, data_root: Path, out_dir: Path, *options: str) -> list[str]:
    """The command line of a tiny training run of ResNetBasicBlock on the fake archive."""
    return [sys.executable, "-m", "blockzoo.train", "ResNetBasicBlock", "--data-root", str(data_root),
            "--data-url", fake.url, "--data-md5", fake.md5, "--val-size", "100", "--batch-size", "50",
            "--num-blocks", "1", "--base-channels", "8", "--limit-train-batches", "1", "--device", "cpu",
            "--out-dir", str(out_dir), "--no-progress", *options]


def test_cli_trains_and_writes_the_record(tmp_path, fake_cifar100, data_root):
    out_dir = tmp_path / "cli"
    proc = subprocess.run(
        tiny_cli(fake_cifar100, data_root, out_dir, "--position", "late", "--epochs", "1", "--recipe", "blockzoo"),
        cwd=REPO, capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONWARNINGS": "default"})
    assert proc.returncode == 0, proc.stderr
    record = results.read_record(out_dir / "record.json")
    assert (record["position"], record["train"]["recipe"],
            record["train"]["status"]) == ("late", "blockzoo", "completed")
    assert str(out_dir / "record.json") in proc.stdout
    noise = ("GPU available", "TPU available", "does not have many workers", "LeafSpec", "Tip:", "Traceback")
    assert not [line for line in (proc.stdout + proc.stderr).splitlines() if any(n in line for n in noise)]


def test_cli_bad_option_is_one_error_line_and_exit_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "blockzoo.train", "ResNetBasicBlock", "--position", "mid", "--recipe",
                           "adamw", "--out-dir", str(tmp_path / "x")], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith("error: train.recipe must be one of sgd, blockzoo, blox, got 'adamw'")
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("argv,fragment", [
    (["--dataset", "imagenet"], "data.dataset must be one of cifar100, cifar10, fashion-mnist"),
    (["--precision", "fp8"], "train.precision must be one of 'auto'"),
    (["--epochs", "0"], "argument --epochs: must be an integer from 1 to 1000"),
    (["--lr", "-1"], "train.lr must be a positive number"),
    (["--lr", "abc"], "argument --lr: must be a number, got 'abc'"),
    (["--device", "tpu"], "train.device must be auto, cpu, cuda or cuda:N"),
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


def sigint_as_from_a_shell() -> None:
    """In the child before exec: SIGINT at its default and unblocked, as a shell starts a command. An ignored or
    blocked SIGINT is inherited through exec; in the full suite (not alone) this test's child once ignored Ctrl-C
    for 240 s and printed nothing, and the cause was not found: this rules those two out."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def test_ctrl_c_ends_with_exit_130_and_one_line(tmp_path, fake_cifar100, data_root):
    out_dir = tmp_path / "interrupted"
    proc = subprocess.Popen(
        tiny_cli(fake_cifar100, data_root, out_dir, "--position", "mid", "--epochs", "1000"),
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=sigint_as_from_a_shell)
    deadline = time.monotonic() + 300  # a loaded machine takes long to import and start training
    while not (out_dir / "checkpoints" / "last.ckpt").exists() and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        time.sleep(0.2)
    assert (out_dir / "checkpoints" / "last.ckpt").exists(), "training wrote no checkpoint in 300 s"
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"Ctrl-C did not end training in 120 s; its stderr ends: {err[-2000:]!r}")
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == [
        "error: interrupted; outputs already written are complete, nothing half-written was kept"]
    assert (out_dir / "checkpoints" / "last.ckpt").is_file() and not (out_dir / "record.json").exists()



def _truncate(path: Path) -> None:
    os.truncate(path, 100)


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _not_a_checkpoint(path: Path) -> None:
    torch.save({"weights": torch.zeros(3)}, path)


def _another_network(path: Path) -> None:
    saved = torch.load(path, weights_only=True)
    key = next(key for key, value in saved["state_dict"].items() if value.dim() == 4)
    saved["state_dict"][key] = torch.zeros(1, 1, 1, 1)
    torch.save(saved, path)


@pytest.fixture(scope="module")
def killed(tmp_path_factory, fake_cifar100, data_root) -> Path:
    """A two-epoch run killed at the end of epoch 1: its last.ckpt holds epoch 0."""
    out_dir = tmp_path_factory.mktemp("killed")
    with pytest.raises(Killed):
        tiny(out_dir, fake_cifar100, data_root, epochs=2, callbacks=[KillAtEpochEnd(1)])
    return out_dir


def test_a_truncated_checkpoint_is_kept_aside_and_the_run_starts_afresh(killed, tmp_path, fake_cifar100, data_root,
                                                                        capsys):
    out_dir = tmp_path / "run"
    shutil.copytree(killed, out_dir)
    last = out_dir / "checkpoints" / "last.ckpt"
    _truncate(last)
    capsys.readouterr()
    started = EpochsStarted()
    record = tiny(out_dir, fake_cifar100, data_root, epochs=2, callbacks=[started])
    assert started.epochs == [0, 1] and record["train"]["status"] == "completed"
    warnings = [line for line in capsys.readouterr().err.splitlines() if "last.ckpt" in line]
    assert len(warnings) == 1, warnings
    assert "last.ckpt cannot be resumed from: it cannot be read (RuntimeError: PytorchStreamReader" in warnings[0]
    aside = list(out_dir.glob("last.ckpt.broken-*"))
    assert len(aside) == 1 and aside[0].stat().st_size == 100 and aside[0].name in warnings[0]
    assert "starting afresh" in warnings[0]
    assert [step for step, _ in metric_rows(out_dir, "val_acc")] == [0, 1]


def _garbage(path: Path) -> None:
    path.write_bytes(b"\x00\xff half a file")


@pytest.mark.parametrize("name,break_it,problem", [
    ("checkpoints/last.ckpt", _truncate, "it cannot be read (RuntimeError: PytorchStreamReader failed"),
    ("checkpoints/last.ckpt", _empty, "it cannot be read"),
    ("checkpoints/last.ckpt", _not_a_checkpoint, "it is not a checkpoint of a training run"),
    ("checkpoints/last.ckpt", _another_network, "it holds the weights of another network"),
    ("checkpoints/best.ckpt", _truncate, "it cannot be read"),
    ("live/metrics.json", _garbage, "it is not a readable curve log file"),  # a resumed run appends to its log
    ("live/plots/metrics/val_acc.tsv", _garbage, "it is not a readable curve log file"),
    ("checkpoints/last.ckpt", None, None),
    ("checkpoints/last.ckpt+checkpoints/best.ckpt", _truncate, "it cannot be read"),  # two: still one line
])
def test_a_checkpoint_that_cannot_be_resumed_from_is_kept_aside(killed, tmp_path, capsys, name, break_it, problem):
    out_dir = tmp_path / "run"
    shutil.copytree(killed, out_dir)
    paths = [out_dir / part for part in name.split("+")]
    for path in paths if break_it else ():
        break_it(path)
    broken = [path.read_bytes() for path in paths]
    identity = json.loads((out_dir / "config.json").read_text())
    module = ScaffoldModule(Cell("ResNetBasicBlock", "mid", ScaffoldSpec(num_blocks=1, base_channels=8)).build(),
                            RECIPES["sgd"], steps_per_epoch=2, epochs=2)
    capsys.readouterr()
    resume = train_run.prepare_out_dir(out_dir, identity, module)
    err = capsys.readouterr().err
    if problem is None:  # a sound checkpoint is resumed from, untouched
        assert resume and err == "" and [path.read_bytes() for path in paths] == broken
        return
    assert not resume and not (out_dir / "checkpoints").exists() and not (out_dir / "live").exists()
    assert err.count("\n") == 1 and err.rstrip().endswith("starting afresh"), err
    for path, content in zip(paths, broken, strict=True):
        assert f"{path.relative_to(out_dir)} cannot be resumed from: {problem}" in err, err
        aside = list(out_dir.glob(f"{path.name}.broken-*"))
        assert len(aside) == 1 and aside[0].read_bytes() == content and aside[0].name in err


def test_the_progress_bar_counts_epochs_from_one():
    from types import SimpleNamespace

    from blockzoo.train.run import EpochProgressBar

    bar = EpochProgressBar()
    bar._trainer = SimpleNamespace(max_epochs=2)
    assert [bar._get_train_description(epoch).strip() for epoch in (0, 1)] == ["Epoch 1/2", "Epoch 2/2"]
