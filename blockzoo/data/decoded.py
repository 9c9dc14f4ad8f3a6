"""The decoded dataset: the official training and test sets as uint8 .npy files, decoded once.

The download stage writes them beside the fetched files (<root>/decoded/, inside its DVC output), so
every cell memory-maps them instead of unpickling CIFAR batches or parsing idx files again. They are
tied to the fetched files by the fetch marker: files decoded from other data are never read.
"""
from __future__ import annotations

import json
import pickle
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.datasets.mnist import read_image_file, read_label_file

from blockzoo.data.fetch import CIFAR_CLASSES, fetched_folder, verified_marker
from blockzoo.errors import BlockzooError

FOLDER = "decoded"
_ARRAYS = ("train_x", "train_y", "test_x", "test_y")
_SOURCE = "source.json"

Arrays = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]  # train_x, train_y, test_x, test_y


def write_decoded(name: str, root: str | Path) -> Path:
    """Decode the fetched dataset under root into root/decoded/ (replacing it whole); return that folder."""
    root = Path(root)
    arrays = decode(name, fetched_folder(name, root))
    target = root / FOLDER
    staged = Path(tempfile.mkdtemp(prefix=".decoding-", dir=root))
    try:
        for key, array in zip(_ARRAYS, arrays, strict=True):
            np.save(staged / f"{key}.npy", array.numpy())
        (staged / _SOURCE).write_text(json.dumps(_source(name, root)) + "\n")  # last: says the folder is whole
        if target.exists():
            shutil.rmtree(target)
        staged.rename(target)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    return target


def read_decoded(name: str, root: str | Path) -> Arrays | None:
    """The arrays root/decoded/ holds, when they were decoded from the files fetched there; else None."""
    folder = Path(root) / FOLDER
    try:
        if json.loads((folder / _SOURCE).read_text()) != _source(name, Path(root)):
            return None
    except (OSError, ValueError):
        return None
    # np.array copies out of the memory map: the tensors are writable and the file can be replaced later.
    return tuple(torch.from_numpy(np.array(np.load(folder / f"{key}.npy", mmap_mode="r"))) for key in _ARRAYS)


def decode(name: str, folder: Path) -> Arrays:
    """The training and test sets from the fetched files: images uint8 (N, C, 32, 32), labels int64."""
    if name in CIFAR_CLASSES:
        cls = CIFAR_CLASSES[name]
        return (*_read_cifar(folder, cls.train_list), *_read_cifar(folder, cls.test_list))
    return (*_read_fashion(folder, "train"), *_read_fashion(folder, "t10k"))


def _source(name: str, root: Path) -> dict:
    return {"dataset": name, "fetched": verified_marker(name, root)}


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
    return F.pad(images, (2, 2, 2, 2)).unsqueeze(1), labels  # 28x28 zero-padded to the scaffold's 32x32
