"""The datasets blockzoo knows (classes, channels, normalisation statistics) and the data settings; no torch."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from blockzoo.checks import NON_NEGATIVE, POSITIVE, Settings
from blockzoo.errors import BlockzooError


@dataclass(frozen=True)
class DatasetInfo:
    name: str  # "cifar100" | "cifar10" | "fashion-mnist"
    num_classes: int
    in_chans: int  # 3, or 1 for fashion-mnist
    mean: tuple[float, ...]  # per channel, on the 0..1 scale
    std: tuple[float, ...]
    train_images: int | None = None  # in the official training set (data.md5 names other data)


DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo("cifar100", 100, 3, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762), 50000),
        DatasetInfo("cifar10", 10, 3, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), 50000),
        # Statistics of the 32x32 zero-padded images the network sees, not of the 28x28 originals.
        DatasetInfo("fashion-mnist", 10, 1, (0.2190,), (0.3318,), 60000),
    )
}

# BLOX's normalisation, its digits (blox/training/trainer.py: CIFAR-100 as 129.3/255 ..., CIFAR-10 its own)
BLOX_NORMALISATION: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "cifar100": ((0.5070588235294118, 0.48666666666666664, 0.4407843137254902),
                 (0.26745098039215687, 0.2564705882352941, 0.27607843137254906)),
    "cifar10": ((0.49139968, 0.48215827, 0.44653124), (0.24703233, 0.24348505, 0.26158768)),
}


def get_dataset_info(name: str) -> DatasetInfo:
    try:
        return DATASETS[name]
    except KeyError:
        raise BlockzooError(f"unknown dataset {name!r}; use one of: {', '.join(DATASETS)}") from None


def dataset_name(value: str) -> str | None:
    return None if value in DATASETS else f"must be one of {', '.join(DATASETS)}"


@dataclass(frozen=True)
class DataSettings(Settings):
    """Which dataset, where it comes from, and the validation hold-out."""

    SECTION = "data"

    dataset: str = field(default="cifar100", metadata={"check": dataset_name})
    root: str = "data"  # the folder datasets are kept in
    url: str | None = None  # a mirror of the official archive
    archive: str | None = None  # a local copy of the archive, or its extracted folder
    md5: str | None = None  # the md5 of your own archive in the dataset's format
    val_size: int = field(default=5000, metadata=POSITIVE)  # held out of the training set for model selection
    split_seed: int = field(default=0, metadata=NON_NEGATIVE)  # picks the hold-out; independent of the training seed
    # random: val_size images drawn by torch from split_seed; blox: BLOX's, numpy's permutation of the training
    # set from split_seed (BLOX: 0), its last val_size images (BLOX: 5,000) the validation set
    split: Literal["random", "blox"] = "random"

    @property
    def info(self) -> DatasetInfo:
        return DATASETS[self.dataset]

    def fetch_options(self) -> dict[str, str | None]:
        return {"url": self.url, "archive": self.archive, "md5": self.md5}
