"""Every setting a measurement can have: name, type, default and check, defined once (no torch here).

The library takes these objects; the pipeline builds them from params.yaml (blockzoo.params checks the
whole file), the commands from their options. params.yaml is composed from the commented files in
conf/, which document each key for users.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from blockzoo.checks import (
    NON_NEGATIVE,
    POSITIVE,
    Settings,
    check_known_keys,
    fraction,
    non_negative_number,
    positive_number,
)
from blockzoo.data.catalogue import DatasetInfo, DataSettings
from blockzoo.errors import BlockzooError

__all__ = ["BenchmarkSettings", "DataSettings", "DynamicSettings", "MacroSettings", "ProfileSettings", "ScaffoldSpec",
           "TrainSettings", "train_settings"]  # DataSettings lives with the dataset catalogue (blockzoo.data.catalogue)

Precision = Literal["auto", "32-true", "bf16-mixed", "16-mixed"]
DType = Literal["float32", "fp32", "bfloat16", "bf16", "float16", "fp16"]


def device_name(value: str) -> str | None:
    ok = value is None or re.fullmatch(r"auto|cpu|cuda(:\d+)?", value)
    return None if ok else "must be auto, cpu, cuda or cuda:N"


DEVICE = {"check": device_name}


@dataclass(frozen=True)
class ScaffoldSpec(Settings):
    """The scaffold network's shape (docs/blocks.md); params.yaml's `scaffold` sets the first two, the dataset
    the rest."""

    SECTION = "scaffold"
    USER_KEYS = ("num_blocks", "base_channels")

    num_blocks: int = field(default=3, metadata=POSITIVE)  # blocks per stage
    base_channels: int = field(default=64, metadata=POSITIVE)  # channels of the early stage (x2 mid, x4 late)
    num_classes: int = field(default=100, metadata=POSITIVE)
    in_chans: int = field(default=3, metadata=POSITIVE)
    input_size: int = field(default=32, metadata=POSITIVE)

    @classmethod
    def for_dataset(cls, scaffold: Mapping[str, Any] | None, dataset: DatasetInfo) -> "ScaffoldSpec":
        check_known_keys(scaffold or {}, cls.USER_KEYS, "scaffold.")
        return cls(**(scaffold or {}), num_classes=dataset.num_classes, in_chans=dataset.in_chans)


# The recipes' names (their numbers are blockzoo.train.recipes.RECIPES, which a test keeps to these names): not
# imported from there, so that a stage that never trains does not depend on the training schedules.
RECIPE_NAMES = ("sgd", "blockzoo", "blox")


def recipe_name(value: str) -> str | None:
    return None if value in RECIPE_NAMES else f"must be one of {', '.join(RECIPE_NAMES)}"


@dataclass(frozen=True)
class TrainSettings(Settings):
    """How a cell is trained (one seed); the recipe's own values where a field is null."""

    SECTION = "train"

    recipe: str = field(default="sgd", metadata={"check": recipe_name})
    epochs: int = field(default=50, metadata=POSITIVE)
    batch_size: int = field(default=256, metadata=POSITIVE)
    lr: float | None = field(default=None, metadata={"check": positive_number})  # used as is, not scaled
    weight_decay: float | None = field(default=None, metadata={"check": non_negative_number})
    label_smoothing: float | None = field(default=None, metadata={"check": fraction})
    device: str = field(default="auto", metadata=DEVICE)
    precision: Precision = "auto"  # auto: bf16-mixed on a GPU that supports it, else 32-true
    channels_last: bool | None = None  # null: on
    compile: bool = False  # torch.compile the network (its compile time is reported apart from the throughput)
    limit_train_batches: int | None = field(default=None, metadata=POSITIVE)  # batches per epoch, for smoke tests


@dataclass(frozen=True)
class ProfileSettings(Settings):
    SECTION = "profile"

    memory_batch_size: int | None = field(default=None, metadata=POSITIVE)  # null: 8 on a CPU, 64 on a GPU
    device: str = field(default="cpu", metadata=DEVICE)


@dataclass(frozen=True)
class BenchmarkSettings(Settings):
    SECTION = "benchmark"

    device: str = field(default="auto", metadata=DEVICE)
    dtype: DType = "float32"
    channels_last: bool = False
    batch_size: int | None = field(default=None, metadata=POSITIVE)  # the large batch; null: 32 on a CPU, 256 on a GPU
    warmup: int | None = field(default=None, metadata=NON_NEGATIVE)  # null: the device's default
    repeats: int | None = field(default=None, metadata=POSITIVE)  # null: the device's default
    threads: int | None = field(default=None, metadata=POSITIVE)  # torch intra-op threads; null: torch's


@dataclass(frozen=True)
class MacroSettings(Settings):
    """Macro architectures measured by the pipeline (params.yaml `macro`)."""

    SECTION = "macro"

    archs: list = field(default_factory=list)  # BLOX arch vectors or ids, or zoo networks "A,B,C"
    sample: int = field(default=0, metadata=NON_NEGATIVE)  # a seeded sample of this many architectures ...
    sample_space: Literal["blox", "zoo"] = "blox"  # ... from this space
    seed: int = field(default=0, metadata=NON_NEGATIVE)
    blox_width: int = field(default=32, metadata=POSITIVE)  # BLOX networks' stem width (BLOX: 32)
    train: dict | None = None  # training settings for the macro cells (keys of `train`)


def three_widths(value) -> str | None:
    ok = (isinstance(value, (list, tuple)) and len(value) == 3
          and all(isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in value))
    return None if ok else "must be three positive integers (the widths of the policy's three stages)"


def decay_point(value) -> str | None:
    ok = value is not None and math.isfinite(value) and 0 <= value <= 1
    return None if ok else "must be in [0, 1] (a fraction of the fine-tuning epochs; 1 or 0: no decay)"


@dataclass(frozen=True)
class DynamicSettings(Settings):
    """BlockDrop on trained cells (params.yaml `dynamic`; docs/blockdrop.md)."""

    SECTION = "dynamic"

    cells: list = field(default_factory=list)  # trained cells to make dynamic (names of `cells`)
    seeds: list = field(default_factory=lambda: [0])  # their training seeds (of `seeds`)
    gammas: list = field(default_factory=lambda: [5.0])  # the penalty of a wrong prediction, one run each
    curriculum_epochs: int = field(default=9, metadata=NON_NEGATIVE)  # BlockDrop: K, one more block per epoch
    finetune_epochs: int = field(default=10, metadata=NON_NEGATIVE)
    curriculum_gamma: float = field(default=1.0, metadata={"check": non_negative_number})
    alpha: float = field(default=0.8, metadata={"check": fraction})  # bounded exploration
    entropy_weight: float = field(default=0.1, metadata={"check": non_negative_number})
    curriculum_lr: float = field(default=1e-3, metadata={"check": positive_number})
    finetune_lr: float = field(default=1e-4, metadata={"check": positive_number})
    batch_size: int = field(default=256, metadata=POSITIVE)
    limit_train_batches: int | None = field(default=None, metadata=POSITIVE)
    fallback: Literal["shortcut", "parameter-free"] = "shortcut"  # of the blocks without a separable shortcut
    device: str = field(default="auto", metadata=DEVICE)
    latency_images: int = field(default=200, metadata=POSITIVE)  # test images timed one by one
    policy_widths: list = field(default_factory=lambda: [16, 32, 64],  # the policy ResNet-8's stage widths
                                metadata={"check": three_widths})
    policy_input_size: int | None = field(default=16, metadata=POSITIVE)  # the image pooled to this before the
    # policy sees it (null: the full image); 16 on 32 px inputs is BlockDrop's ImageNet choice (2x)
    lr_decay_at: float = field(default=0.8, metadata={"check": decay_point})  # fine-tuning's lr x0.1 from there on

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.curriculum_epochs + self.finetune_epochs == 0:
            raise BlockzooError("dynamic.curriculum_epochs + dynamic.finetune_epochs is 0: train at least one epoch")


def train_settings(train: Mapping[str, Any] | None, overrides: Mapping[str, Any] | None = None,
                   block: str | None = None, where: str | None = None) -> TrainSettings:
    """TrainSettings from params.yaml's `train`, with a block's own `block_settings.<block>.train` (or the
    overrides at `where`, e.g. macro.train.) on top."""
    where = where or f"block_settings.{block}.train."
    for prefix, values in (("train.", train or {}), (where, overrides or {})):
        if "seed" in values:
            raise BlockzooError(f"{prefix}seed is not a setting: the seeds trained are the top-level list `seeds`")
        check_known_keys(values, TrainSettings.keys(), prefix)
    settings = TrainSettings(**(train or {}))
    if overrides:  # checked apart, so that a bad value is named by the key it was given at (e.g. macro.train.lr)
        named = type(TrainSettings.__name__, (TrainSettings,), {"SECTION": where.rstrip(".")})
        settings = TrainSettings(**named(**{**(train or {}), **overrides}).to_dict())
    return settings
