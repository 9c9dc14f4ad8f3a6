"""Train one cell (block x position x seed) on CIFAR-100 and write its results record.

    python -m blockzoo.train ResNetBasicBlock --position mid --epochs 5 --out-dir runs/x

train(TrainConfig(...)) loads the splits once, keeps them on the device (blockzoo.data.DeviceLoader:
batched crop and flip on the device, no workers), and fits a LightningModule around ScaffoldNet.
It writes, under out_dir:
    config.json               what the run is (the settings that change its result)
    live/                     dvclive log: metrics.json and plots/metrics/<name>.tsv, one row per epoch
    checkpoints/best.ckpt     the epoch with the best validation accuracy
    checkpoints/last.ckpt     the latest epoch, to resume from
    record.json               the results record (blockzoo.results schema), written last, atomically

Re-running the same config:
- when record.json exists, its record is returned without training again (delete the record,
  or the folder, to train again);
- when the run was killed, it resumes from last.ckpt and continues the dvclive log;
- a different config in the same out_dir starts afresh (the old checkpoints and record go).
A run whose loss becomes non-finite stops and is recorded with status "diverged".
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import json
import logging
import math
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from dvclive.lightning import DVCLiveLogger
from lightning.pytorch.callbacks import ModelCheckpoint
from timm.optim import param_groups_weight_decay

from blockzoo import atomic, results
from blockzoo.blocks.registry import import_block_modules
from blockzoo.data import DeviceLoader, get_dataset_info, load_splits
from blockzoo.environment import collect_environment
from blockzoo.errors import BlockzooError, cli_errors
from blockzoo.profile import check_device
from blockzoo.scaffold import ScaffoldNet

__all__ = ["RECIPES", "Recipe", "ScaffoldModule", "TrainConfig", "get_recipe", "main", "to_channels_last", "train"]

INPUT_SIZE = 32
PRECISIONS = ("auto", "32-true", "bf16-mixed", "16-mixed")
FINITE_CHECK_EVERY = 25  # training steps between checks for a non-finite loss (each check syncs a GPU)


# ---------------------------------------------------------------------------------------------
# recipes
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Recipe:
    """Optimiser, schedule and loss of a training run. Every number the README states is here."""

    name: str
    optimizer: str  # "sgd" (Nesterov) or "adam"
    lr: float  # the peak learning rate at batch size `lr_batch_size`
    lr_batch_size: int | None  # lr scales linearly with the batch size relative to this; None = no scaling
    weight_decay: float  # L2 on conv/linear weights only: never on norm parameters or biases
    label_smoothing: float
    schedule: str  # "warmup-cosine" (per step) or "plateau" (ReduceLROnPlateau on val_loss, per epoch)
    momentum: float = 0.0
    warmup_epochs: float = 0.0  # linear warm-up, capped at warmup_max_fraction of the run
    warmup_max_fraction: float = 0.1
    plateau_factor: float = 0.5
    plateau_patience: int = 3

    def lr_for(self, batch_size: int) -> float:
        return self.lr * batch_size / self.lr_batch_size if self.lr_batch_size else self.lr


RECIPES: dict[str, Recipe] = {
    # The default. 0.1 per 128 images is the classic CIFAR ResNet rate (He et al. 2016), scaled
    # linearly with the batch (Goyal et al. 2017): 0.2 at the default batch of 256.
    "sgd": Recipe("sgd", optimizer="sgd", lr=0.2, lr_batch_size=256, momentum=0.9, weight_decay=5e-4,
                  label_smoothing=0.1, schedule="warmup-cosine", warmup_epochs=2.0),
    # BlockZoo 0.3.0 (its train.py): Adam at 1e-3, no weight decay, plain cross-entropy,
    # ReduceLROnPlateau(mode="min", factor=0.5, patience=3) on the validation loss.
    "blockzoo": Recipe("blockzoo", optimizer="adam", lr=1e-3, lr_batch_size=None, weight_decay=0.0,
                       label_smoothing=0.0, schedule="plateau", plateau_factor=0.5, plateau_patience=3),
}


def get_recipe(name: str) -> Recipe:
    try:
        return RECIPES[name]
    except KeyError:
        raise BlockzooError(f"unknown recipe {name!r}; use one of: {', '.join(RECIPES)}") from None


# ---------------------------------------------------------------------------------------------
# config
# ---------------------------------------------------------------------------------------------

@dataclass
class TrainConfig:
    block: str
    position: str
    seed: int = 0
    dataset: str = "cifar100"
    data_root: str = "data"
    data_url: str | None = None
    data_archive: str | None = None
    data_md5: str | None = None
    val_size: int = 5000
    split_seed: int = 0
    recipe: str = "sgd"  # "sgd" (the documented default) or "blockzoo" (BlockZoo 0.3.0's Adam + plateau)
    epochs: int = 50
    batch_size: int = 256
    lr: float | None = None  # None = the recipe's value (scaled to the batch size); a number is used as is
    weight_decay: float | None = None  # None = the recipe's value
    label_smoothing: float | None = None  # None = the recipe's value
    num_blocks: int = 3
    base_channels: int = 64
    device: str = "auto"  # auto = cuda if available, else cpu
    precision: str = "auto"  # auto = bf16-mixed on a GPU that supports it, else 32-true
    channels_last: bool | None = None  # None = on (it is faster for these nets on CPU and CUDA alike)
    limit_train_batches: int | None = None  # training batches per epoch, for tiny runs
    out_dir: str = "runs/default"
    block_modules: tuple[str, ...] = ()
    progress: bool = True


@dataclass(frozen=True)
class _Resolved:
    """A TrainConfig with every 'auto' and 'recipe default' decided."""

    device: torch.device
    precision: str
    channels_last: bool
    recipe: Recipe  # with lr / weight decay / label smoothing overrides applied
    recipe_label: str  # the recipe's name, with the overrides it ran with: "sgd", "sgd(lr=0.05)"


def _resolve(cfg: TrainConfig) -> _Resolved:
    for name in ("epochs", "batch_size"):
        if not isinstance(getattr(cfg, name), int) or getattr(cfg, name) < 1:
            raise BlockzooError(f"{name} must be a positive integer, got {getattr(cfg, name)!r}")
    if cfg.seed < 0:
        raise BlockzooError(f"seed must be >= 0, got {cfg.seed}")
    if cfg.val_size < 1:
        raise BlockzooError(f"training needs a validation split to choose its best epoch: set val_size >= 1, got {cfg.val_size}")
    if cfg.limit_train_batches is not None and cfg.limit_train_batches < 1:
        raise BlockzooError(f"limit_train_batches must be a positive integer or unset, got {cfg.limit_train_batches}")
    get_dataset_info(cfg.dataset)
    base = get_recipe(cfg.recipe)

    overrides = {k: v for k, v in (("lr", cfg.lr), ("weight_decay", cfg.weight_decay),
                                   ("label_smoothing", cfg.label_smoothing)) if v is not None}
    for name, value, ok, wanted in (("lr", cfg.lr, lambda v: v > 0, "a positive number"),
                                    ("weight_decay", cfg.weight_decay, lambda v: v >= 0, "a number >= 0"),
                                    ("label_smoothing", cfg.label_smoothing, lambda v: 0 <= v < 1, "in [0, 1)")):
        if value is not None and not (math.isfinite(value) and ok(value)):
            raise BlockzooError(f"{name} must be {wanted}, got {value}")
    recipe = dataclasses.replace(base, lr=base.lr_for(cfg.batch_size), lr_batch_size=None)
    recipe = dataclasses.replace(recipe, **overrides)
    label = base.name + (f"({','.join(f'{k}={v:g}' for k, v in overrides.items())})" if overrides else "")

    if cfg.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = check_device(cfg.device)
    if cfg.precision not in PRECISIONS:
        raise BlockzooError(f"unknown precision {cfg.precision!r}; use one of: {', '.join(PRECISIONS)}")
    precision = cfg.precision
    if precision == "auto":
        precision = "bf16-mixed" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "32-true"
    # Channels-last measured on this project's nets: CPU (oneDNN) 47% -> 64% of matmul peak for the
    # ResNet scaffold; CUDA convolutions with tensor cores want NHWC too. So on by default everywhere.
    channels_last = True if cfg.channels_last is None else cfg.channels_last
    return _Resolved(device, precision, channels_last, recipe, label)


def _identity(cfg: TrainConfig, resolved: _Resolved) -> dict[str, Any]:
    """The settings that decide a run's result; a run in out_dir with other settings is not this run."""
    skip = {"data_root", "data_url", "data_archive", "out_dir", "block_modules", "progress", "device", "precision",
            "channels_last", "lr", "weight_decay", "label_smoothing"}
    identity = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in skip}
    identity.update(device=resolved.device.type, precision=resolved.precision, channels_last=resolved.channels_last,
                    recipe_settings=dataclasses.asdict(resolved.recipe))
    return identity


# ---------------------------------------------------------------------------------------------
# the LightningModule
# ---------------------------------------------------------------------------------------------

def to_channels_last(net: torch.nn.Module) -> torch.nn.Module:
    """The 4-D parameters and buffers of `net` in channels-last layout, in place.

    Not net.to(memory_format=...): that fails on any 5-D tensor (DYMicroBlock's Shift-Max buffers).
    """
    for tensor in (*net.parameters(), *net.buffers()):
        if tensor.dim() == 4:
            tensor.data = tensor.data.contiguous(memory_format=torch.channels_last)
    return net


class Diverged(Exception):
    """The training loss became non-finite in `epoch` (raised inside fit, caught by train())."""

    def __init__(self, epoch: int):
        super().__init__(f"the training loss became non-finite in epoch {epoch}")
        self.epoch = epoch


class ScaffoldModule(L.LightningModule):
    """ScaffoldNet with a recipe. Epoch metrics are summed on the device and read once per epoch.

    history: one dict per finished epoch (losses, accuracies, lr, training time and images); it is
    saved in every checkpoint, so a resumed run, and the best checkpoint, know their past.
    """

    def __init__(self, net: ScaffoldNet, recipe: Recipe, *, steps_per_epoch: int, epochs: int, channels_last: bool = False):
        super().__init__()
        self.net = to_channels_last(net) if channels_last else net
        self.recipe = recipe
        # Given, not trainer.estimated_stepping_batches: that loads (and starts iterating) the training
        # loader before a resumed run's epoch is restored.
        self.steps_per_epoch, self.epochs = steps_per_epoch, epochs
        self.history: list[dict[str, Any]] = []
        self.test_result: dict[str, float] | None = None
        self._wall_before = 0.0  # wall time of earlier sessions, from the checkpoint
        self._session_start = time.perf_counter()
        self._session_epochs = 0
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: dict[str, int] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    # --- optimiser ---------------------------------------------------------------------------

    def configure_optimizers(self):
        r = self.recipe
        groups = param_groups_weight_decay(self.net, r.weight_decay)
        if r.optimizer == "sgd":
            optimizer = torch.optim.SGD(groups, lr=r.lr, momentum=r.momentum, nesterov=r.momentum > 0)
        else:
            optimizer = torch.optim.Adam(groups, lr=r.lr)
        if r.schedule == "plateau":
            scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=r.plateau_factor,
                                                                   patience=r.plateau_patience)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": "val_loss", "interval": "epoch"}}
        total = self.steps_per_epoch * self.epochs
        warmup = int(min(r.warmup_epochs * self.steps_per_epoch, r.warmup_max_fraction * total))

        def factor(step: int) -> float:  # linear warm-up to the peak, then cosine to zero, per step
            if step < warmup:
                return (step + 1) / warmup
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # --- steps ---------------------------------------------------------------------------------

    def _reset(self, split: str) -> None:
        self._sums[split] = torch.zeros(2, device=self.device)  # loss sum, correct count
        self._counts[split] = 0

    def _accumulate(self, split: str, logits: torch.Tensor, y: torch.Tensor, loss_sum: torch.Tensor) -> None:
        correct = (logits.argmax(1) == y).sum()
        self._sums[split] += torch.stack((loss_sum.detach().float(), correct.float()))
        self._counts[split] += len(y)

    def _epoch_means(self, split: str) -> tuple[float, float]:
        loss_sum, correct = self._sums[split].tolist()  # the one device sync per split and epoch
        count = max(1, self._counts[split])
        return loss_sum / count, correct / count

    def training_step(self, batch, batch_idx):
        x, y = batch
        logits = self.net(x)
        loss = F.cross_entropy(logits, y, label_smoothing=self.recipe.label_smoothing)
        self._accumulate("train", logits, y, loss * len(y))
        return loss

    def _eval_step(self, split: str, batch) -> None:
        x, y = batch
        logits = self.net(x)
        # Validation and test losses are plain cross-entropy, comparable across recipes.
        self._accumulate(split, logits, y, F.cross_entropy(logits.float(), y, reduction="sum"))

    def validation_step(self, batch, batch_idx):
        self._eval_step("val", batch)

    def test_step(self, batch, batch_idx):
        self._eval_step("test", batch)

    # --- epochs --------------------------------------------------------------------------------

    def on_fit_start(self) -> None:
        self._session_start = time.perf_counter()
        self._session_epochs = 0

    def on_train_start(self) -> None:
        if self.history and self.logger is not None:  # resumed: drop the log rows of epochs the checkpoint lacks
            _truncate_live_log(Path(self.logger.experiment.plots_dir) / "metrics", keep_before=len(self.history))

    def on_train_epoch_start(self) -> None:
        self._reset("train")
        self._train_seconds = None
        self._sync()
        self._epoch_start = time.perf_counter()

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        if (batch_idx + 1) % FINITE_CHECK_EVERY == 0 and not torch.isfinite(self._sums["train"][0]):
            raise Diverged(self.current_epoch)

    def on_validation_epoch_start(self) -> None:
        if self._fitting():  # validation inside fit: this epoch's training steps are done
            self._sync()
            self._train_seconds = time.perf_counter() - self._epoch_start
        self._reset("val")

    def on_validation_epoch_end(self) -> None:
        if not self._fitting():
            return
        train_loss, train_acc = self._epoch_means("train")
        val_loss, val_acc = self._epoch_means("val")
        epoch = self.current_epoch
        if not all(map(math.isfinite, (train_loss, val_loss))):
            raise Diverged(epoch)  # before this epoch's checkpoint: last.ckpt and best.ckpt stay finite
        entry = {"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc, "val_loss": val_loss, "val_acc": val_acc,
                 "lr": self.optimizers().param_groups[0]["lr"], "train_seconds": self._train_seconds,
                 "train_images": self._counts["train"], "session_epoch": self._session_epochs}
        self.history.append(entry)
        self._session_epochs += 1
        # For ModelCheckpoint (val_acc), ReduceLROnPlateau (val_loss) and the progress bar; dvclive gets them below.
        self.log("val_acc", val_acc, prog_bar=True, logger=False)
        self.log("val_loss", val_loss, prog_bar=True, logger=False)
        self.log("train_loss", train_loss, prog_bar=True, logger=False)
        if self.logger is not None:
            live = self.logger.experiment
            live.step = epoch
            for name in ("train_loss", "train_acc", "val_loss", "val_acc", "lr"):
                live.log_metric(name, entry[name])
            live.sync()

    def on_test_epoch_start(self) -> None:
        self._reset("test")

    def on_test_epoch_end(self) -> None:
        loss, acc = self._epoch_means("test")
        self.test_result = {"test_loss": loss, "test_acc": acc}

    def _fitting(self) -> bool:
        return self.trainer.state.fn == "fit" and not self.trainer.sanity_checking

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    # --- timing and checkpoints ----------------------------------------------------------------

    def wall_time_s(self) -> float:
        """Training wall time over every session, up to now."""
        return self._wall_before + time.perf_counter() - self._session_start

    def throughput(self) -> float | None:
        """Training images/s over the training steps (loader included, validation excluded); the first
        epoch of each session (warm-up) is left out unless nothing else ran."""
        steady = [e for e in self.history if e["session_epoch"] > 0] or self.history
        seconds = sum(e["train_seconds"] for e in steady)
        return sum(e["train_images"] for e in steady) / seconds if seconds > 0 else None

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["blockzoo"] = {"history": self.history, "wall_time_s": self.wall_time_s()}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        saved = checkpoint.get("blockzoo", {})
        self.history = list(saved.get("history", []))
        self._wall_before = saved.get("wall_time_s", 0.0)


class _LiveLogger(DVCLiveLogger):
    """dvclive's Lightning logger, without a run name in the progress bar."""

    version = None


class _EpochLoader:
    """The training DeviceLoader, told the epoch whenever Lightning starts iterating it.

    Lightning creates (and prefetches from) the iterator of the first epoch, and of the first epoch
    after a resume, before on_train_epoch_start; so set_epoch happens here, at iter(). The epoch is
    the fit loop's count of processed epochs: while an end-of-epoch checkpoint is being resumed,
    trainer.current_epoch still names the epoch that checkpoint finished.
    """

    def __init__(self, loader: DeviceLoader, module: L.LightningModule):
        self.loader, self.module = loader, module

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        self.loader.set_epoch(self.module.trainer.fit_loop.epoch_progress.current.processed)
        return iter(self.loader)


def _truncate_live_log(metrics_dir: Path, keep_before: int) -> None:
    """Drop the rows of epochs >= keep_before from dvclive's per-metric TSVs (a resumed run logs them again)."""
    for path in sorted(metrics_dir.rglob("*.tsv")):
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8")), delimiter="\t"))
        if not rows or "step" not in rows[0]:
            continue
        step = rows[0].index("step")
        kept = [rows[0]] + [row for row in rows[1:] if len(row) == len(rows[0]) and row[step].isdigit() and int(row[step]) < keep_before]
        if len(kept) != len(rows):
            buffer = io.StringIO()
            csv.writer(buffer, delimiter="\t", lineterminator="\n").writerows(kept)
            atomic.write_text(path, buffer.getvalue())


# ---------------------------------------------------------------------------------------------
# train()
# ---------------------------------------------------------------------------------------------

def train(cfg: TrainConfig, *, callbacks: list | tuple = ()) -> dict:
    """Train one cell; return its results record, also written atomically to <out_dir>/record.json.

    `callbacks`: extra Lightning callbacks (used by the tests to interrupt a run).
    """
    import_block_modules(cfg.block_modules)
    resolved = _resolve(cfg)
    info = get_dataset_info(cfg.dataset)
    net_kwargs = dict(num_blocks=cfg.num_blocks, base_channels=cfg.base_channels, num_classes=info.num_classes,
                      in_chans=info.in_chans)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    net = ScaffoldNet(cfg.block, cfg.position, **net_kwargs)  # a bad block, position or width fails here, before any data

    out = Path(cfg.out_dir)
    record_path, config_path, ckpt_dir, live_dir = out / "record.json", out / "config.json", out / "checkpoints", out / "live"
    identity = _identity(cfg, resolved)
    if _read_json(config_path) == identity:
        if record_path.is_file():
            return results.read_record(record_path)
    else:  # a new run, or another config in the same folder: start afresh
        for stale in (record_path, ckpt_dir / "best.ckpt", ckpt_dir / "last.ckpt"):
            stale.unlink(missing_ok=True)
        atomic.write_json(config_path, identity)
    last = ckpt_dir / "last.ckpt"
    resume = last.is_file()

    _quiet_lightning()
    splits = load_splits(cfg.dataset, cfg.data_root, val_size=cfg.val_size, split_seed=cfg.split_seed,
                         url=cfg.data_url, archive=cfg.data_archive, md5=cfg.data_md5)
    device = resolved.device
    if device.type == "cuda":
        torch.set_float32_matmul_precision("high")  # TF32 for what autocast leaves in fp32

    loader_kwargs = dict(batch_size=cfg.batch_size, mean=info.mean, std=info.std, device=device,
                         channels_last=resolved.channels_last)
    train_data = DeviceLoader(splits.train_x, splits.train_y, train=True, seed=cfg.seed, **loader_kwargs)
    val_loader = DeviceLoader(splits.val_x, splits.val_y, **loader_kwargs)
    steps_per_epoch = min(len(train_data), cfg.limit_train_batches or len(train_data))
    module = ScaffoldModule(net, resolved.recipe, steps_per_epoch=steps_per_epoch, epochs=cfg.epochs,
                            channels_last=resolved.channels_last)
    train_loader = _EpochLoader(train_data, module)

    logger = _LiveLogger(dir=str(live_dir), resume=resume, dvcyaml=None, save_dvc_exp=False, report=None)
    logger.log_hyperparams({**identity, "recipe": resolved.recipe_label})
    checkpoint = ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor="val_acc", mode="max", save_top_k=1,
                                 save_last=True, auto_insert_metric_name=False, enable_version_counter=False)
    trainer = L.Trainer(
        accelerator=device.type, devices=[device.index or 0] if device.type == "cuda" else 1,
        precision=resolved.precision, max_epochs=cfg.epochs, limit_train_batches=steps_per_epoch,
        logger=logger, callbacks=[checkpoint, *callbacks], log_every_n_steps=steps_per_epoch,
        num_sanity_val_steps=0, enable_model_summary=False, enable_progress_bar=cfg.progress,
        benchmark=device.type == "cuda", default_root_dir=out,
    )
    status, diverged_epoch = "completed", None
    try:
        trainer.fit(module, train_dataloaders=train_loader, val_dataloaders=val_loader,
                    ckpt_path=str(last) if resume else None, weights_only=True)
    except Diverged as exc:
        status, diverged_epoch = "diverged", exc.epoch
        print(f"{cfg.block} at {cfg.position}, seed {cfg.seed}: {exc}; stopped and recorded as diverged", file=sys.stderr)
    epochs_run = len(module.history) if diverged_epoch is None else diverged_epoch + 1
    wall_time_s, throughput = module.wall_time_s(), module.throughput()

    # The test set is used here only: once, on the best checkpoint.
    best: dict[str, Any] = {}  # stays empty when no epoch finished with a finite loss
    best_path = ckpt_dir / "best.ckpt"
    if best_path.is_file() and module.history:
        test_loader = DeviceLoader(splits.test_x, splits.test_y, **loader_kwargs)
        tester = L.Trainer(accelerator=device.type, devices=trainer.device_ids if device.type == "cuda" else 1,
                           precision=resolved.precision, logger=False, enable_model_summary=False,
                           enable_progress_bar=cfg.progress, benchmark=device.type == "cuda", default_root_dir=out)
        saved = torch.load(best_path, map_location=device, weights_only=True)
        module.load_state_dict(saved["state_dict"])
        module.on_load_checkpoint(saved)
        tester.test(module, dataloaders=test_loader, verbose=False)
        best = {**module.history[-1], **module.test_result}  # best.ckpt's own history ends at its epoch

    record = {
        "block": cfg.block, "position": cfg.position, "seed": cfg.seed,
        "scaffold": {**net_kwargs, "input_size": INPUT_SIZE},
        "train": {
            "dataset": cfg.dataset, "recipe": resolved.recipe_label, "epochs": cfg.epochs, "batch_size": cfg.batch_size,
            "status": status,
            "epochs_run": epochs_run, "diverged_epoch": diverged_epoch, "best_epoch": best.get("epoch"),
            **{key: best.get(key) for key in ("val_acc", "val_loss", "test_acc", "test_loss")},
            "wall_time_s": wall_time_s, "throughput": throughput, "precision": resolved.precision,
            "env": collect_environment(device),
        },
    }
    results.write_record(record_path, record)
    return record


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


class _DropMessages(logging.Filter):
    """Drops log records that start with one of the given texts (Lightning's start-up banner)."""

    def __init__(self, *prefixes: str):
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().lstrip().startswith(self.prefixes)


_BANNER = _DropMessages("GPU available:", "TPU available:", "HPU available:", "LOCAL_RANK:", "💡 Tip:",
                        "You are using a CUDA device", "`Trainer.fit` stopped: `max_epochs=",
                        "Restored all states from the checkpoint", "`Trainer(limit_train_batches=1)` was configured")


def _quiet_lightning() -> None:
    """Silence the Lightning messages that are noise for a blockzoo user, each by its exact text."""
    # (Lightning's "does not have many workers" warnings concern torch DataLoaders: DeviceLoaders never get them.)
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero",
                 "lightning.pytorch.accelerators.cuda"):
        logging.getLogger(name).addFilter(_BANNER)  # a no-op when already there
    for message in (
        r"GPU available but not used",  # --device cpu on a GPU machine is a choice
        r"Checkpoint directory .* exists and is not empty",  # resuming into our own checkpoints
        r"`isinstance\(treespec, LeafSpec\)` is deprecated",  # Lightning's own use of torch's pytree
    ):
        warnings.filterwarnings("ignore", message=message)


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, through cli_errors
        raise BlockzooError(f"{message} (see python -m blockzoo.train --help)")


def _parser() -> argparse.ArgumentParser:
    d = TrainConfig("", "")
    p = _Parser(prog="python -m blockzoo.train", description="Train one block at one position of ScaffoldNet; write <out-dir>/record.json.",
                argument_default=argparse.SUPPRESS)
    p.add_argument("block", help="registered block name, e.g. ResNetBasicBlock")
    p.add_argument("--position", required=True, help="stage under test: early, mid or late")
    p.add_argument("--seed", type=int, help=f"training seed (default {d.seed})")
    p.add_argument("--dataset", help=f"cifar100, cifar10 or fashion-mnist (default {d.dataset})")
    p.add_argument("--data-root", help=f"where datasets are kept (default {d.data_root})")
    p.add_argument("--data-url", help="a mirror of the dataset archive")
    p.add_argument("--data-archive", help="a local copy of the dataset archive, or its extracted folder")
    p.add_argument("--data-md5", help="md5 of the archive, when it is not the official one")
    p.add_argument("--val-size", type=int, help=f"images held out of the training set for validation (default {d.val_size})")
    p.add_argument("--split-seed", type=int, help=f"seed of the validation hold-out (default {d.split_seed})")
    p.add_argument("--recipe", help=f"{' or '.join(RECIPES)} (default {d.recipe})")
    p.add_argument("--epochs", type=int, help=f"(default {d.epochs})")
    p.add_argument("--batch-size", type=int, help=f"(default {d.batch_size})")
    p.add_argument("--lr", type=float, help="peak learning rate, used as is (default: the recipe's, scaled to the batch size)")
    p.add_argument("--weight-decay", type=float, help="(default: the recipe's)")
    p.add_argument("--label-smoothing", type=float, help="(default: the recipe's)")
    p.add_argument("--num-blocks", type=int, help=f"blocks per stage (default {d.num_blocks})")
    p.add_argument("--base-channels", type=int, help=f"channels of the early stage (default {d.base_channels})")
    p.add_argument("--device", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--precision", help=f"{', '.join(PRECISIONS)} (default auto: bf16-mixed on a GPU that has it)")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, help="channels-last memory format (default on)")
    p.add_argument("--limit-train-batches", type=int, help="training batches per epoch (for quick checks)")
    p.add_argument("--out-dir", help=f"(default {d.out_dir})")
    p.add_argument("--block-module", dest="block_modules", action="append",
                   help="a module or .py file that registers blocks (repeatable)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    return p


@cli_errors
def main(argv: list[str] | None = None) -> int:
    args = vars(_parser().parse_args(argv))
    if "block_modules" in args:
        args["block_modules"] = tuple(args["block_modules"])
    cfg = TrainConfig(**args)
    record = train(cfg)
    t = record["train"]
    best = ("no finite epoch" if t["best_epoch"] is None else
            f"best epoch {t['best_epoch']}: val_acc {t['val_acc']:.4f}, test_acc {t['test_acc']:.4f}")
    print(f"{cfg.block} at {cfg.position}, seed {cfg.seed}: {t['status']} after {t['epochs_run']} epochs, {best}; "
          f"record: {Path(cfg.out_dir) / 'record.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
