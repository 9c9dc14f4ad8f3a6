"""Every setting the library takes, each written once here: its name, type, default, range and comment.

conf/config.yaml is generated from these classes (scripts/write_conf.py, run by `make params`): a field's
default is its value there, and the comments beside and above a field are its comments there; a class's
docstring heads its section. The pipeline builds these objects from params.yaml (blockzoo.params checks the
whole file), the commands from their options (which take their ranges from here). No torch here.
docs/settings.md draws the path from a setting to a stage.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from blockzoo.checks import (
    NON_NEGATIVE,
    POSITIVE,
    SEED,
    Bounds,
    Settings,
    between,
    check_known_keys,
    fraction,
    non_negative_number,
    positive_number,
    within,
)
from blockzoo.data.catalogue import DATASETS, DatasetInfo
from blockzoo.errors import BlockzooError

__all__ = ["BenchmarkSettings", "DataSettings", "DynamicSettings", "MacroSettings",
           "ProfileSettings", "ScaffoldSpec", "TrainSettings", "train_settings"]

Precision = Literal["auto", "32-true", "bf16-mixed", "16-mixed"]
DType = Literal["float32", "fp32", "bfloat16", "bf16", "float16", "fp16"]
BATCH = between(1, 8192, "images per batch")
BATCHES = between(1, 1_000_000, "batches per epoch")


def device_name(value: str) -> str | None:
    ok = value is None or re.fullmatch(r"auto|cpu|cuda(:\d+)?", value)
    return None if ok else "must be auto, cpu, cuda or cuda:N"


DEVICE = {"check": device_name}


@dataclass(frozen=True)
class ScaffoldSpec(Settings):
    """The scaffold network every block is placed in (docs/blocks.md); the dataset sets its classes and
    channels."""

    SECTION = "scaffold"
    USER_KEYS: ClassVar[tuple[str, ...]] = ("num_blocks", "base_channels")  # the keys of params.yaml's `scaffold`

    # blocks per stage
    num_blocks: int = field(default=3, metadata=between(1, 32, "blocks per stage; the benchmark's scaffold has 3"))
    base_channels: int = field(default=64, metadata=between(  # channels of the early stage (mid x2, late x4)
        1, 1024, "channels of the early stage, x4 in the late one; the benchmark's scaffold has 64"))
    num_classes: int = field(default=100, metadata=between(1, 1_000_000, "classes"))
    in_chans: int = field(default=3, metadata=between(1, 64, "image channels"))
    input_size: int = field(default=32, metadata=between(1, 4096, "px"))

    @classmethod
    def for_dataset(cls, scaffold: Mapping[str, Any] | None, dataset: DatasetInfo) -> "ScaffoldSpec":
        check_known_keys(scaffold or {}, cls.USER_KEYS, "scaffold.")
        return cls(**(scaffold or {}), num_classes=dataset.num_classes, in_chans=dataset.in_chans)


def dataset_name(value: str) -> str | None:
    return None if value in DATASETS else f"must be one of {', '.join(DATASETS)}"


@dataclass(frozen=True)
class DataSettings(Settings):
    """Which dataset, where it comes from, and the validation hold-out."""

    SECTION = "data"

    # cifar100, cifar10 or fashion-mnist (padded to 32x32)
    dataset: str = field(default="cifar100", metadata={"check": dataset_name})
    root: str = "data"  # datasets are kept in <root>/<dataset>/
    url: str | None = None  # a mirror of the official archive (fashion-mnist: of the folder of its 4 files)
    archive: str | None = None  # a local copy of the archive, or its extracted folder
    md5: str | None = None  # the md5 of your own archive in the dataset's format
    # validation images held out of the training set, for model selection
    val_size: int = field(default=5000, metadata=between(1, 1_000_000, "images held out of the training set"))
    # picks the hold-out; independent of the training seeds
    split_seed: int = field(default=0, metadata={"check": SEED})
    # random: val_size images drawn by torch from split_seed; blox: BLOX's, numpy's permutation of the training
    # set from split_seed (BLOX: 0), its last val_size images (BLOX: 5,000) the validation set
    split: Literal["random", "blox"] = "random"

    @property
    def info(self) -> DatasetInfo:
        return DATASETS[self.dataset]

    def fetch_options(self) -> dict[str, str | None]:
        return {"url": self.url, "archive": self.archive, "md5": self.md5}


# The recipes' names (their numbers are blockzoo.train.recipes.RECIPES, which a test keeps to these names): not
# imported from there, so that a stage that never trains does not depend on the training schedules.
RECIPE_NAMES = ("sgd", "blockzoo", "blox")


def recipe_name(value: str) -> str | None:
    return None if value in RECIPE_NAMES else f"must be one of {', '.join(RECIPE_NAMES)}"


@dataclass(frozen=True)
class TrainSettings(Settings):
    """How a cell is trained (one seed); the recipe's own values where a field is null."""

    SECTION = "train"

    # sgd (the default, see docs/training.md), blockzoo (BlockZoo 0.3.0's Adam + plateau) or blox (BLOX's)
    recipe: str = field(default="sgd", metadata={"check": recipe_name})
    epochs: int = field(default=50, metadata=between(1, 1000, "epochs of one training run; the benchmark's recipes "
                                                              "train 50"))
    batch_size: int = field(default=256, metadata=BATCH)
    # null: the recipe's (sgd: 0.2 at batch 256, scaled with the batch size); a number is used as is, not scaled
    lr: float | None = field(default=None, metadata={"check": positive_number})
    weight_decay: float | None = field(default=None, metadata={"check": non_negative_number})  # null: the recipe's
    label_smoothing: float | None = field(default=None, metadata={"check": fraction})  # null: the recipe's
    device: str = field(default="auto", metadata=DEVICE)  # auto (CUDA when there is one), cpu, cuda, cuda:N
    # auto (bf16-mixed on a GPU that has it, else 32-true), 32-true, bf16-mixed, 16-mixed
    precision: Precision = "auto"
    channels_last: bool | None = None  # null: on
    compile: bool = False  # torch.compile the network; the record gives its compile time apart from throughput
    limit_train_batches: int | None = field(default=None, metadata=BATCHES)  # cap on batches per epoch (smoke tests)


@dataclass(frozen=True)
class ProfileSettings(Settings):
    """How FLOPs, parameters and peak memory are measured."""

    SECTION = "profile"

    # batch of the peak-memory measurement; null: 8 on a CPU, 64 on a GPU
    memory_batch_size: int | None = field(default=None, metadata=BATCH)
    device: str = field(default="cpu", metadata=DEVICE)  # where the memory is measured


@dataclass(frozen=True)
class BenchmarkSettings(Settings):
    """How inference latency is timed."""

    SECTION = "benchmark"

    device: str = field(default="auto", metadata=DEVICE)  # auto (CUDA when there is one), cpu, cuda, cuda:N
    dtype: DType = "float32"  # float32, bfloat16 or float16 (fp32, bf16, fp16)
    channels_last: bool = False
    # the large batch (batch 1 is always timed too); null: 32 on a CPU, 256 on a GPU
    batch_size: int | None = field(default=None, metadata=BATCH)
    # untimed iterations; null: 2 on a CPU, 20 on a GPU
    warmup: int | None = field(default=None, metadata=between(0, 10_000, "untimed iterations before the timed ones"))
    # timed iterations per round; null: 100 on a GPU, on a CPU as many as fill 0.3 s (5-200)
    repeats: int | None = field(default=None, metadata=between(
        1, 10_000, "timed iterations per round; a round is timed again until it is steady"))
    threads: int | None = field(default=None, metadata=between(1, 1024, "torch intra-op threads"))  # null: torch's


def cpu_dtype_problem(dtype: str) -> str | None:
    """Why `dtype` cannot be timed on a CPU (None: it can); blockzoo.benchmark.latency.check_dtype says it too."""
    if str(dtype).lower() in ("float16", "fp16"):
        return ("float16 inference is not supported on the CPU; use --dtype bf16 or fp32 there, or fp16 with "
                "--device cuda")
    return None


@dataclass(frozen=True)
class MacroSettings(Settings):
    """Macro architectures (a block per stage), measured beside the cells (docs/macro.md)."""

    SECTION = "macro"

    # explicit architectures: BLOX arch vectors, nested [[[op1],[op2,prev,input,sc]], x3] or 15 integers,
    # BLOX ids (blox-03-17-44), or zoo networks, one block per stage: "InvertedResidual,RepMixer,ResNetBottleneck"
    archs: list = field(default_factory=list)
    sample: int = field(default=0, metadata=NON_NEGATIVE)  # and a seeded sample of this many architectures ...
    sample_space: Literal["blox", "zoo"] = "blox"  # ... from blox (91,125 networks) or zoo (a zoo block per stage)
    seed: int = field(default=0, metadata=NON_NEGATIVE)
    blox_width: int = field(default=32, metadata=POSITIVE)  # BLOX networks' stem width (32: BLOX's; less on a CPU)
    train: dict | None = field(default_factory=dict)  # training settings for the macro cells (keys of train)


def three_widths(value) -> str | None:
    ok = (isinstance(value, (list, tuple)) and len(value) == 3
          and all(isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in value))
    return None if ok else "must be three positive integers (the widths of the policy's three stages)"


# the penalty of a wrong prediction (BlockDrop's gamma), in the curriculum and in each run
GAMMA = Bounds(0, 1e6, "the penalty of a wrong prediction; a negative one would reward it")
ADAM_LR = within(0, 1, "Adam's learning rate", low_open=True)


@dataclass(frozen=True)
class DynamicSettings(Settings):
    """Dynamic inference: BlockDrop on trained cells (docs/blockdrop.md), one run per cell, seed and gamma, after
    the cell's training run."""

    SECTION = "dynamic"

    cells: list = field(default_factory=list)  # trained block cells, e.g. [RepMixer-mid, ResNetBasicBlock]
    seeds: list = field(default_factory=lambda: [0])  # which of their training seeds (of `seeds`)
    # the penalty of a wrong prediction in fine-tuning, one run each; several draw a frontier. Every epoch (the
    # curriculum's too) is scored and selected at the run's own gamma
    gammas: list = field(default_factory=lambda: [5.0])
    # base network frozen, the policy deciding one more block per epoch, from the last (BlockDrop: K)
    curriculum_epochs: int = field(default=9, metadata=between(0, 100_000, "epochs of the curriculum"))
    # then policy and network, cross-entropy added
    finetune_epochs: int = field(default=10, metadata=between(0, 100_000, "epochs of fine-tuning"))
    # the curriculum's penalty of a wrong prediction
    curriculum_gamma: float = field(default=1.0, metadata={"check": GAMMA})
    # bounded exploration: p' = alpha p + (1 - alpha)(1 - p)
    alpha: float = field(default=0.8, metadata=within(
        0.5, 1, "the weight of the policy's own probability: 0.5 is a coin toss, below it inverts the policy",
        low_open=True, high_open=True))
    # the curriculum's entropy bonus, BlockDrop's beta (its -p' log p' over all K blocks)
    entropy_weight: float = field(default=0.1, metadata=within(0, 1000, "beta of the entropy bonus"))
    curriculum_lr: float = field(default=1e-3, metadata=ADAM_LR)  # Adam, policy only
    finetune_lr: float = field(default=1e-4, metadata=ADAM_LR)  # Adam, policy and network
    batch_size: int = field(default=256, metadata=between(1, 65536, "images per step"))
    # cap on batches per epoch (smoke tests)
    limit_train_batches: int | None = field(default=None, metadata=between(1, 10**9, "batches per epoch"))
    # a block without a separable shortcut: always on (shortcut), or parameter-free
    fallback: Literal["shortcut", "parameter-free"] = "shortcut"
    device: str = field(default="auto", metadata=DEVICE)
    # test images timed one by one, blocks really skipped
    latency_images: int = field(default=200, metadata=between(1, 100_000, "test images timed"))
    # the policy ResNet-8's stage widths (BlockDrop's); narrower for a small base
    policy_widths: list = field(default_factory=lambda: [16, 32, 64], metadata={"check": three_widths})
    # the image average-pooled to this many px before the policy sees it (null: the full image); 16 on 32 px
    # inputs is BlockDrop's ImageNet choice (2x)
    policy_input_size: int | None = field(default=16, metadata=between(4, 4096, "px; the policy's stages "
                                                                              "downsample 4x"))
    # fine-tuning's lr x0.1 from this fraction of its epochs on (BlockDrop: 1600/2000)
    lr_decay_at: float = field(default=0.8, metadata=within(
        0, 1, "a fraction of the fine-tuning epochs; 1 or 0: no decay"))

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
