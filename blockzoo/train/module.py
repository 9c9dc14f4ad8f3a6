"""The LightningModule around ScaffoldNet, and the pieces the fit loop plugs into Lightning."""
from __future__ import annotations

import csv
import io
import math
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from timm.optim import param_groups_weight_decay

from blockzoo import atomic
from blockzoo.data.loader import DeviceLoader
from blockzoo.scaffold import ScaffoldNet
from blockzoo.train.recipes import Recipe

FINITE_CHECK_EVERY = 25  # training steps between checks for a non-finite loss (each check syncs a GPU)


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

    def __init__(
        self, net: ScaffoldNet, recipe: Recipe, *, steps_per_epoch: int, epochs: int, channels_last: bool = False,
        compile: bool = False,
    ):
        super().__init__()
        self.net = to_channels_last(net) if channels_last else net
        # The compiled forward shares net's parameters; kept out of the registered children so that
        # checkpoints hold the same keys with and without compile.
        self.__dict__["_forward"] = torch.compile(self.net) if compile else self.net
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
        return self._forward(x)

    # --- optimiser ---------------------------------------------------------------------------

    def configure_optimizers(self):
        r = self.recipe
        groups = ([{"params": list(self.net.parameters()), "weight_decay": r.weight_decay}] if r.decay_all
                  else param_groups_weight_decay(self.net, r.weight_decay))
        if r.optimizer == "sgd":
            optimizer = torch.optim.SGD(groups, lr=r.lr, momentum=r.momentum, nesterov=r.nesterov and r.momentum > 0)
        else:
            optimizer = torch.optim.Adam(groups, lr=r.lr)
        if r.schedule == "plateau":
            scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=r.plateau_factor,
                                                                   patience=r.plateau_patience)
            return {"optimizer": optimizer,
                    "lr_scheduler": {"scheduler": scheduler, "monitor": "val_loss", "interval": "epoch"}}
        if r.schedule == "cosine":
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=self.epochs, eta_min=0.0)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
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
        logits = self(x)
        loss = F.cross_entropy(logits, y, label_smoothing=self.recipe.label_smoothing)
        self._accumulate("train", logits, y, loss * len(y))
        return loss

    def _eval_step(self, split: str, batch) -> None:
        x, y = batch
        logits = self(x)
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
        entry = {"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc, "val_loss": val_loss,
                 "val_acc": val_acc, "lr": self.optimizers().param_groups[0]["lr"],
                 "train_seconds": self._train_seconds, "train_images": self._counts["train"],
                 "session_epoch": self._session_epochs}
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

    def first_epoch_excess_s(self) -> float | None:
        """How much longer this session's first epoch took than its images at the steady rate: the warm-up,
        and with compile on, the compilation. None until a second epoch ran."""
        first = [e for e in self.history if e["session_epoch"] == 0]
        rate = self.throughput()
        if not first or rate is None or len(self.history) < 2:
            return None
        return max(0.0, first[-1]["train_seconds"] - first[-1]["train_images"] / rate)

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


class EpochLoader:
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
    """Drop the rows of epochs >= keep_before from the curve log's per-metric TSVs (a resumed run logs them again)."""
    for path in sorted(metrics_dir.rglob("*.tsv")):
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8")), delimiter="\t"))
        if not rows or "step" not in rows[0]:
            continue
        step = rows[0].index("step")
        kept = [rows[0]] + [row for row in rows[1:]
                            if len(row) == len(rows[0]) and row[step].isdigit() and int(row[step]) < keep_before]
        if len(kept) != len(rows):
            buffer = io.StringIO()
            csv.writer(buffer, delimiter="\t", lineterminator="\n").writerows(kept)
            atomic.write_text(path, buffer.getvalue())
