"""train(): fit one cell for one seed, resume a killed run of the same code and settings, test once.

Under out_dir it writes:
    config.json               the run's fingerprint: cell, settings, seed, code and library versions
    live/                     curve log: metrics.json and plots/metrics/<name>.tsv, one row per epoch
    checkpoints/best.ckpt     the epoch with the best validation accuracy
    checkpoints/last.ckpt     the latest epoch (written every epoch), to resume from
    record.json               the results record (blockzoo.results schema), written last, atomically

Every call trains: a finished run in out_dir is trained again from scratch (deciding what is already
done is DVC's job). A killed run resumes from last.ckpt when its fingerprint equals this run's, and
starts afresh, saying so in one line, when the code or settings changed, or when a checkpoint of it
cannot be used (truncated, empty, not a checkpoint, another network's) or its curve log cannot be read
back: that file is kept aside as <name>.broken-<time> in out_dir. A run whose loss becomes non-finite
stops and is recorded with status "diverged".
"""
from __future__ import annotations

import json
import logging
import shutil
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import timm
import torch
from lightning.pytorch.callbacks import ModelCheckpoint, RichProgressBar

from blockzoo import atomic, results
from blockzoo.cell import Cell, resolve_device
from blockzoo.data.catalogue import BLOX_NORMALISATION
from blockzoo.data.loader import DeviceLoader
from blockzoo.data.splits import load_splits
from blockzoo.environment import collect_environment, loaded_code
from blockzoo.errors import BlockzooError
from blockzoo.settings import DataSettings, TrainSettings
from blockzoo.train.allocator import keep_freed_memory
from blockzoo.train.curve_log import CurveLogger, curve_log_problems
from blockzoo.train.module import Diverged, EpochLoader, ScaffoldModule
from blockzoo.train.recipes import Recipe, resolve_recipe


class EpochProgressBar(RichProgressBar):
    """Lightning's rich bar with epochs counted from 1: a 2-epoch run shows "Epoch 1/2", then "Epoch 2/2"
    (Lightning's own counts both numbers from 0: "Epoch 0/1", "Epoch 1/1")."""

    def _get_train_description(self, current_epoch: int) -> str:
        text = f"Epoch {current_epoch + 1}"
        if self.trainer.max_epochs is not None and self.trainer.max_epochs > 0:
            text += f"/{self.trainer.max_epochs}"
        return f"{text:{len(self.validation_description)}}"  # as wide as "Validation": no flicker


@dataclass(frozen=True)
class Resolved:
    """TrainSettings with every 'auto' and 'recipe default' decided."""

    device: torch.device
    precision: str
    channels_last: bool
    recipe: Recipe  # with the lr / weight decay / label smoothing overrides applied
    recipe_label: str  # the recipe's name with the overrides it ran with: "sgd", "sgd(lr=0.05)"


def resolve(settings: TrainSettings) -> Resolved:
    device = resolve_device(settings.device)
    recipe, label = resolve_recipe(settings)
    precision = settings.precision
    if precision == "auto":  # the recipe's (blox: fp32), else bf16 where the GPU has it
        precision = recipe.precision or (
            "bf16-mixed" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "32-true")
    # Channels-last measured on this project's nets: CPU (oneDNN) 47% -> 64% of matmul peak for the
    # ResNet scaffold; CUDA convolutions with tensor cores want NHWC too. So on by default everywhere.
    channels_last = True if settings.channels_last is None else settings.channels_last
    return Resolved(device, precision, channels_last, recipe, label)


def fingerprint(cell: Cell, settings: TrainSettings, data: DataSettings, seed: int, resolved: Resolved) -> dict:
    """What decides a run's result: a checkpoint made under another fingerprint is not resumed."""
    return {
        "cell": cell.name, "stages": cell.stage_blocks(), "scaffold": cell.scaffold.to_dict(), "seed": seed,
        "data": {key: getattr(data, key) for key in ("dataset", "val_size", "split_seed", "split")},
        "train": {**settings.to_dict(), "device": resolved.device.type, "precision": resolved.precision,
                  "channels_last": resolved.channels_last, "recipe": resolved.recipe_label},
        "recipe": resolved.recipe.__dict__,
        "versions": {"torch": torch.__version__, "timm": timm.__version__, "lightning": L.__version__},
        "code": loaded_code(),
    }


def train(cell: Cell, settings: TrainSettings, data: DataSettings, *, seed: int = 0, out_dir: str | Path,
          data_dir: str | Path | None = None, progress: bool = True, callbacks: list | tuple = ()) -> dict:
    """Train `cell` with seed `seed`; return its results record, also written atomically to out_dir/record.json.

    data_dir: where the dataset's files are fetched to (default: <data.root>/<data.dataset>).
    `callbacks`: extra Lightning callbacks, of the fit and the test (the tests use them to interrupt a run,
    blockzoo.train.throughput.PhaseTimer to time its parts).
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise BlockzooError(f"seed must be an integer >= 0, got {seed!r}")
    resolved = resolve(settings)
    L.seed_everything(seed, workers=True, verbose=False)
    net = cell.build()  # a bad block or width fails here, before anything on disk is touched
    quiet_lightning()
    data_dir = Path(data_dir) if data_dir is not None else Path(data.root) / data.dataset
    splits = load_splits(data.dataset, data_dir, val_size=data.val_size, split_seed=data.split_seed, split=data.split,
                         **data.fetch_options())

    out = Path(out_dir)
    record_path, ckpt_dir = out / "record.json", out / "checkpoints"
    last = ckpt_dir / "last.ckpt"
    identity = fingerprint(cell, settings, data, seed, resolved)

    device = resolved.device
    recipe = resolved.recipe
    if device.type == "cuda" and not recipe.deterministic:  # deterministic (blox): torch's defaults, as BLOX ran
        torch.set_float32_matmul_precision("high")  # TF32 for what autocast leaves in fp32
    else:
        keep_freed_memory()
    info = data.info
    mean, std = BLOX_NORMALISATION.get(data.dataset, (info.mean, info.std)) if recipe.normalise == "blox" else (
        info.mean, info.std)
    loader_kwargs = dict(batch_size=settings.batch_size, mean=mean, std=std, device=device,
                         channels_last=resolved.channels_last)
    train_data = DeviceLoader(splits.train_x, splits.train_y, train=True, seed=seed, augment=recipe.augment,
                              drop_last=recipe.drop_last, **loader_kwargs)
    val_loader = DeviceLoader(splits.val_x, splits.val_y, **loader_kwargs)
    steps_per_epoch = min(len(train_data), settings.limit_train_batches or len(train_data))
    module = ScaffoldModule(net, resolved.recipe, steps_per_epoch=steps_per_epoch, epochs=settings.epochs,
                            channels_last=resolved.channels_last, compile=settings.compile)
    resume = prepare_out_dir(out, identity, module)
    logger = CurveLogger(out / "live", resume=resume)
    logger.log_hyperparams({"cell": cell.name, "seed": seed, **identity["train"]})
    best = (BestOfTies if recipe.best_ties == "lower-val-loss" else ModelCheckpoint)(
        dirpath=ckpt_dir, filename="best", monitor="val_acc", mode="max", save_top_k=1, auto_insert_metric_name=False,
        enable_version_counter=False)
    latest = ModelCheckpoint(dirpath=ckpt_dir, filename="last", monitor=None, save_top_k=1, every_n_epochs=1,
                             enable_version_counter=False)
    deterministic_before = torch.are_deterministic_algorithms_enabled()  # Lightning sets it and never resets it
    trainer = L.Trainer(
        accelerator=device.type, devices=[device.index or 0] if device.type == "cuda" else 1,
        precision=resolved.precision, max_epochs=settings.epochs, limit_train_batches=steps_per_epoch,
        logger=logger, callbacks=[best, latest, *([EpochProgressBar()] if progress else []), *callbacks],
        log_every_n_steps=steps_per_epoch,
        num_sanity_val_steps=0, enable_model_summary=False, enable_progress_bar=progress,
        benchmark=device.type == "cuda" and not recipe.deterministic, deterministic=recipe.deterministic,
        default_root_dir=out,
    )
    status, diverged_epoch = "completed", None
    try:
        trainer.fit(module, train_dataloaders=EpochLoader(train_data, module), val_dataloaders=val_loader,
                    ckpt_path=str(last) if resume else None, weights_only=True)
    except Diverged as exc:
        status, diverged_epoch = "diverged", exc.epoch
        print(f"{cell.name}, seed {seed}: {exc}; stopped and recorded as diverged", file=sys.stderr)
    except SystemExit:
        if trainer.interrupted:  # Lightning turns Ctrl-C into exit(1) after its own clean-up
            raise KeyboardInterrupt from None
        raise
    epochs_run = len(module.history) if diverged_epoch is None else diverged_epoch + 1
    wall_time_s, throughput = module.wall_time_s(), module.throughput()
    first_epoch_excess_s = module.first_epoch_excess_s()

    # The test set is used here only: once, on the best checkpoint.
    best_epoch: dict[str, Any] = {}  # stays empty when no epoch finished with a finite loss
    best_path = ckpt_dir / "best.ckpt"
    if best_path.is_file() and module.history:
        test_loader = DeviceLoader(splits.test_x, splits.test_y, **loader_kwargs)
        tester = L.Trainer(accelerator=device.type, devices=trainer.device_ids if device.type == "cuda" else 1,
                           precision=resolved.precision, logger=False, enable_model_summary=False,
                           enable_progress_bar=progress, callbacks=list(callbacks),
                           benchmark=device.type == "cuda" and not recipe.deterministic,
                           deterministic=recipe.deterministic, default_root_dir=out)
        saved = torch.load(best_path, map_location=device, weights_only=True)
        module.load_state_dict(saved["state_dict"])
        module.on_load_checkpoint(saved)
        tester.test(module, dataloaders=test_loader, verbose=False)
        best_epoch = {**module.history[-1], **module.test_result}  # best.ckpt's own history ends at its epoch

    torch.use_deterministic_algorithms(deterministic_before)
    record = cell.record("train", {
        "dataset": data.dataset, "recipe": resolved.recipe_label, "epochs": settings.epochs,
        "batch_size": settings.batch_size, "status": status, "epochs_run": epochs_run,
        "diverged_epoch": diverged_epoch, "best_epoch": best_epoch.get("epoch"),
        **{key: best_epoch.get(key) for key in ("val_acc", "val_loss", "test_acc", "test_loss")},
        "wall_time_s": wall_time_s, "throughput": throughput, "precision": resolved.precision,
        "first_epoch_excess_s": first_epoch_excess_s, "compiled": settings.compile,
        "env": collect_environment(device),
    }, seed=seed)
    results.write_record(record_path, record)
    return record


def better_epoch(entry: dict, best: dict) -> bool:
    """BLOX's rule (its trainer's _is_new_best): a higher validation accuracy, or an equal one at a validation
    loss as low or lower (so of equal accuracy and loss, the later epoch)."""
    return entry["val_acc"] > best["val_acc"] or (entry["val_acc"] == best["val_acc"]
                                                  and entry["val_loss"] <= best["val_loss"])


class BestOfTies(ModelCheckpoint):
    """best.ckpt by BLOX's rule (better_epoch), decided from the module's history, which checkpoints carry (so a
    resumed run decides as an uninterrupted one)."""

    def check_monitor_top_k(self, trainer, current=None) -> bool:
        history = getattr(trainer.lightning_module, "history", None)
        if current is None or not history:
            return super().check_monitor_top_k(trainer, current)
        best = None
        for entry in history[:-1]:
            if best is None or better_epoch(entry, best):
                best = entry
        return best is None or better_epoch(history[-1], best)


def prepare_out_dir(out: Path, identity: dict, module: L.LightningModule | None = None) -> bool:
    """Make out_dir ready for this run; True when it holds a killed run of the same fingerprint to resume.

    With `module`, a checkpoint of the run that `module` cannot resume from is kept aside and the run starts afresh.
    """
    config_path, last = out / "config.json", out / "checkpoints" / "last.ckpt"
    previous = _read_json(config_path)
    if (out / "record.json").is_file():
        print(f"{out}: a finished run; training it again from scratch", file=sys.stderr)
    elif last.is_file() and previous == identity:
        broken = [(path, problem) for path in (last, out / "checkpoints" / "best.ckpt")
                  if path.is_file() and (problem := checkpoint_problem(path, module))]
        broken += curve_log_problems(out / "live")
        if not broken:
            return True
        said = [f"{path.relative_to(out)} cannot be resumed from: {problem}; kept aside as "
                f"{keep_aside(path, out).relative_to(out)}" for path, problem in broken]
        print(f"{out}: the interrupted run's {'; its '.join(said)}; starting afresh", file=sys.stderr)
    elif last.is_file():
        print(f"{out}: the interrupted run there was made by {_difference(previous, identity)}; "
              "starting afresh", file=sys.stderr)
    for stale in ("record.json", "checkpoints", "live"):
        path = out / stale
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    atomic.write_json(config_path, identity)
    return False


CHECKPOINT_KEYS = ("epoch", "global_step", "state_dict", "loops", "optimizer_states")


def checkpoint_problem(path: Path, module: L.LightningModule | None = None) -> str | None:
    """None when `path` is a Lightning checkpoint that `module` can load (every weight, of its shape), else why not."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - truncated, empty, foreign: torch raises many kinds
        detail = " ".join(str(exc).split()).split(". ")[0]  # its first sentence: torch's go on about internals
        return f"it cannot be read ({type(exc).__name__}: {detail[:160] + '...' if len(detail) > 160 else detail})"
    if not isinstance(saved, dict) or not all(key in saved for key in CHECKPOINT_KEYS):
        return "it is not a checkpoint of a training run"
    if module is not None:
        weights = saved["state_dict"]
        shapes = {key: tuple(value.shape) for key, value in module.state_dict().items()}
        found = {key: tuple(value.shape) for key, value in weights.items() if isinstance(value, torch.Tensor)}
        if found != shapes:
            return "it holds the weights of another network"
    return None


def keep_aside(path: Path, out: Path) -> Path:
    """Move a broken file out of the way, into `out` (which the fresh start does not clear), under a new name."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = out / f"{path.name}.broken-{stamp}"
    count = 1
    while aside.exists():
        count += 1
        aside = out / f"{path.name}.broken-{stamp}-{count}"
    path.replace(aside)
    return aside


def _difference(previous: Any, current: dict) -> str:
    """Words for what changed between two fingerprints: 'other code (blockzoo/train/run.py)', ..."""
    if not isinstance(previous, dict):
        return "an unknown version of blockzoo (its config.json is missing or unreadable)"
    code = sorted(set(previous.get("code", {}).items()) ^ set(current["code"].items()))
    changed = [key for key in current if key != "code" and previous.get(key) != current[key]]
    parts = []
    if code:
        parts.append(f"other code ({', '.join(sorted({path for path, _ in code})[:3])})")
    if changed:
        parts.append(f"other settings ({', '.join(changed)})")
    return " and ".join(parts) or "another run"


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
                        "Restored all states from the checkpoint", "`Trainer(limit_train_batches=1)` was configured",
                        "Detected KeyboardInterrupt")


def quiet_lightning() -> None:
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
