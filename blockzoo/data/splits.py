"""A dataset as uint8 tensors: the training set minus a validation hold-out, and the test set."""
from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.datasets.mnist import read_image_file, read_label_file

from blockzoo.data.catalogue import DatasetInfo, get_dataset_info
from blockzoo.data.fetch import CIFAR_CLASSES, fetch
from blockzoo.errors import BlockzooError


@dataclass
class Splits:
    info: DatasetInfo
    train_x: torch.Tensor  # uint8 (N, C, 32, 32), the training set minus the validation hold-out
    train_y: torch.Tensor  # int64 (N,)
    val_x: torch.Tensor  # held out from the official training set
    val_y: torch.Tensor
    test_x: torch.Tensor  # the official test set, for the final test accuracy only
    test_y: torch.Tensor


def load_splits(name: str, root: str | Path, *, val_size: int = 5000, split_seed: int = 0, **fetch_kwargs) -> Splits:
    """fetch() (a no-op when present), then load as uint8 tensors.

    Validation is a fixed random subset of the official training set chosen by split_seed
    (independent of the training seed). fashion-mnist's 28x28 images are zero-padded to 32x32.
    """
    info = get_dataset_info(name)
    folder = fetch(name, root, **fetch_kwargs)
    if name in CIFAR_CLASSES:
        cls = CIFAR_CLASSES[name]
        (train_x, train_y), (test_x, test_y) = _read_cifar(folder, cls.train_list), _read_cifar(folder, cls.test_list)
    else:
        (train_x, train_y), (test_x, test_y) = _read_fashion(folder, "train"), _read_fashion(folder, "t10k")
    n = len(train_y)
    if not 0 <= val_size < n:
        raise BlockzooError(f"the validation size {val_size} does not fit the {n} training images of {name}; "
                            f"set it between 0 and {n - 1}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(split_seed))
    val_idx, train_idx = order[:val_size].sort().values, order[val_size:].sort().values
    return Splits(info, train_x[train_idx], train_y[train_idx], train_x[val_idx], train_y[val_idx], test_x, test_y)


def _read_cifar(folder: Path, files: list[list[str]]) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = [], []
    for fname, _ in files:
        with open(folder / fname, "rb") as f:
            entry = pickle.load(f, encoding="latin1")  # Python 2 pickles, as torchvision reads them
        data = np.asarray(entry["data"])
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise BlockzooError(f"{folder / fname} is not a CIFAR batch (data {data.dtype} {data.shape}); "
                                f"delete {folder} and fetch the dataset again")
        images.append(data.reshape(-1, 3, 32, 32))  # rows are channel-major: 1024 R, 1024 G, 1024 B
        labels.append(np.asarray(entry["labels"] if "labels" in entry else entry["fine_labels"]))
    return torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels)).long()


def _read_fashion(folder: Path, prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
    images = read_image_file(str(folder / f"{prefix}-images-idx3-ubyte"))
    labels = read_label_file(str(folder / f"{prefix}-labels-idx1-ubyte"))
    return F.pad(images, (2, 2, 2, 2)).unsqueeze(1), labels
