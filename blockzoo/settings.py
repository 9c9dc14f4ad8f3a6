"""Every setting a measurement can have: name, type, default and check, defined once (no torch here).

The library takes these objects; the pipeline builds them from params.yaml (`PipelineSettings`), the
commands from their options. params.yaml is generated from the commented files in conf/, which
document each key for users.
"""
from __future__ import annotations

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
from blockzoo.names import ALL_BLOCKS, POSITIONS, pipeline_cells, split_block_spec
from blockzoo.train.recipes import RECIPES

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


def recipe_name(value: str) -> str | None:
    return None if value in RECIPES else f"must be one of {', '.join(RECIPES)}"


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
    limit_train_batches: int | None = field(default=None, metadata=POSITIVE)  # batches per epoch, for smoke tests


@dataclass(frozen=True)
class ProfileSettings(Settings):
    SECTION = "profile"

    memory_batch_size: int = field(default=64, metadata=POSITIVE)
    device: str = field(default="cpu", metadata=DEVICE)


@dataclass(frozen=True)
class BenchmarkSettings(Settings):
    SECTION = "benchmark"

    device: str = field(default="auto", metadata=DEVICE)
    dtype: DType = "float32"
    channels_last: bool = False
    batch_size: int = field(default=256, metadata=POSITIVE)  # the large batch (batch 1 is always timed too)
    warmup: int | None = field(default=None, metadata=NON_NEGATIVE)  # null: the device's default
    repeats: int | None = field(default=None, metadata=POSITIVE)  # null: the device's default
    threads: int | None = field(default=None, metadata=POSITIVE)  # torch intra-op threads; null: torch's


@dataclass(frozen=True)
class BlockSettings(Settings):
    """Per-block settings (params.yaml `block_settings.<block>`)."""

    SECTION = "block_settings.<block>"

    variant: str | None = None  # one of the block's named variants (its cells are then distinct cells)
    train: dict | None = None  # training settings for this block's cells only (keys of `train`)


@dataclass(frozen=True)
class PipelineSettings(Settings):
    """The whole of params.yaml, validated: one line naming the first bad key or value."""

    SECTION = ""

    zoo: tuple[str, ...] = ()
    block: str = ALL_BLOCKS
    positions: tuple[str, ...] = POSITIONS
    seeds: tuple[int, ...] = ()
    cells: tuple[str, ...] = ()
    conf_digest: str = ""
    block_settings: dict | None = None
    scaffold: dict | None = None
    data: dict | None = None
    train: dict | None = None
    profile: dict | None = None
    benchmark: dict | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> "PipelineSettings":
        for key in params:
            if key not in cls.keys():  # a section's key written at the top level: name the section
                nested = [f"{name}.{key}" for name, section in _SECTIONS.items() if key in section.keys()]
                if nested:
                    raise BlockzooError(f"unknown setting '{key}'; did you mean '{nested[0]}'?")
        settings = cls.from_dict(params)
        settings.validate_sections()
        return settings

    def validate_sections(self) -> None:
        for name in (*self.zoo, *([self.block] if self.block != ALL_BLOCKS else [])):
            try:
                split_block_spec(name)
            except ValueError as exc:
                raise BlockzooError(f"zoo / block: {exc}") from None
        for position in self.positions:
            if position not in POSITIONS:
                raise BlockzooError(f"positions: unknown position '{position}'; use some of {', '.join(POSITIONS)}")
        if not all(isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0 for seed in self.seeds):
            raise BlockzooError(f"seeds must be a list of integers >= 0, got {list(self.seeds)}")
        data = DataSettings.from_dict(self.data)
        ScaffoldSpec.for_dataset(self.scaffold, data.info)
        ProfileSettings.from_dict(self.profile)
        BenchmarkSettings.from_dict(self.benchmark)
        self.train_settings(None)
        for name, _values in (self.block_settings or {}).items():
            self.block_settings_of(name)
            self.train_settings(name)
        expected = pipeline_cells(self.zoo, self.block, self.positions, self.block_settings)
        if list(self.cells) != expected:
            raise BlockzooError("params.yaml's cells do not follow from its zoo, block, positions and block_settings: "
                                "params.yaml is generated from conf/; "
                                "edit conf/ and run `dvc exp run` (or `make params`)")

    def block_settings_of(self, block: str) -> BlockSettings:
        values = (self.block_settings or {}).get(block) or {}
        if not isinstance(values, Mapping):
            raise BlockzooError(f"block_settings.{block} must be a mapping (variant, train), got {values!r}")
        check_known_keys(values, BlockSettings.keys(), f"block_settings.{block}.")
        return BlockSettings(**values)

    def train_settings(self, block: str | None) -> TrainSettings:
        """`train`, with the block's own `block_settings.<block>.train` on top."""
        overrides = (self.block_settings_of(block).train or {}) if block else {}
        return train_settings(self.train, overrides, block)


def train_settings(train: Mapping[str, Any] | None, overrides: Mapping[str, Any] | None = None,
                   block: str | None = None) -> TrainSettings:
    """TrainSettings from params.yaml's `train`, with a block's own `block_settings.<block>.train` on top."""
    for where, values in (("train.", train or {}), (f"block_settings.{block}.train.", overrides or {})):
        if "seed" in values:
            raise BlockzooError(f"{where}seed is not a setting: the seeds trained are the top-level list `seeds`")
        check_known_keys(values, TrainSettings.keys(), where)
    return TrainSettings(**{**(train or {}), **(overrides or {})})


_SECTIONS = {"train": TrainSettings, "data": DataSettings, "scaffold": ScaffoldSpec, "profile": ProfileSettings,
             "benchmark": BenchmarkSettings}
