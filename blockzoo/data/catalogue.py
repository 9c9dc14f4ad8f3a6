"""The datasets blockzoo knows (classes, channels, normalisation statistics); no torch. The data settings are
blockzoo.settings.DataSettings."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from blockzoo.errors import BlockzooError


@dataclass(frozen=True)
class DatasetInfo:
    name: str  # "cifar100" | "cifar10" | "fashion-mnist"
    num_classes: int
    in_chans: int  # 3, or 1 for fashion-mnist
    mean: tuple[float, ...]  # per channel, on the 0..1 scale
    std: tuple[float, ...]
    train_images: int | None = None  # in the official training set (data.md5 names other data)
    archive: str = ""  # what data.archive points at: the official archive (torchvision's file) or folder


DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo("cifar100", 100, 3, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762), 50000,
                    "cifar-100-python.tar.gz or its extracted folder cifar-100-python"),
        DatasetInfo("cifar10", 10, 3, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), 50000,
                    "cifar-10-python.tar.gz or its extracted folder cifar-10-batches-py"),
        # Statistics of the 32x32 zero-padded images the network sees, not of the 28x28 originals.
        DatasetInfo("fashion-mnist", 10, 1, (0.2190,), (0.3318,), 60000,
                    "folder holding the four Fashion-MNIST *-ubyte.gz files"),
    )
}

# The datasets that come as one archive (their torchvision class, which knows its file name and md5s);
# fashion-mnist comes as four files
SINGLE_ARCHIVE = {"cifar100": "CIFAR100", "cifar10": "CIFAR10"}

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


def check_source(name: str, *, url: str | None = None, archive: str | Path | None = None,
                 md5: str | None = None) -> None:
    """What fetch() checks of its arguments before it touches anything: a one-line error for a source that cannot
    work (the pipeline checks its data settings so before DVC removes the dataset's folder)."""
    info = get_dataset_info(name)
    if url is not None and archive is not None:
        raise BlockzooError("both data.url and data.archive are set; set only one of them "
                            "(or only one of --data-url / --data-archive)")
    if md5 is not None and name not in SINGLE_ARCHIVE:
        raise BlockzooError(f"an md5 can only be given for a single-archive dataset ({', '.join(SINGLE_ARCHIVE)}); "
                            f"{name} files are always checked against their official md5s: "
                            "remove data.md5 (--data-md5)")
    if archive is not None:
        archive = Path(archive)
        if not archive.exists():
            raise BlockzooError(f"data.archive {archive} does not exist; point data.archive (--data-archive) "
                                f"at the downloaded {info.archive}")
        if name not in SINGLE_ARCHIVE and not archive.is_dir():
            raise BlockzooError(f"data.archive {archive} is a file, but {name} comes as four files; set "
                                f"data.archive (--data-archive) to the {info.archive}")


def check_val_size(name: str, val_size: int, n: int) -> None:
    """A one-line error for a hold-out that leaves no training image (n: the training images)."""
    if not 0 <= val_size < n:
        raise BlockzooError(f"the validation size {val_size} does not fit the {n} training images of {name}; "
                            f"set it between 0 and {n - 1}")
