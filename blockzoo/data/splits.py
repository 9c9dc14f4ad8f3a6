"""A dataset as uint8 tensors: the training set minus a validation hold-out, and the test set."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from blockzoo.data.catalogue import DatasetInfo, check_val_size, get_dataset_info
from blockzoo.data.decoded import decode, read_decoded
from blockzoo.data.fetch import fetch


@dataclass
class Splits:
    info: DatasetInfo
    train_x: torch.Tensor  # uint8 (N, C, 32, 32), the training set minus the validation hold-out
    train_y: torch.Tensor  # int64 (N,)
    val_x: torch.Tensor  # held out from the official training set
    val_y: torch.Tensor
    test_x: torch.Tensor  # the official test set, for the final test accuracy only
    test_y: torch.Tensor


def blox_split(n: int, val_size: int = 5000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """BLOX's split (blox/training/trainer.py): np.random.seed(seed); np.random.permutation(range(n)); the first
    n - val_size indices train, the last val_size validate. (train, val) indices, in the permutation's order."""
    order = np.random.RandomState(seed).permutation(n)  # the legacy global generator's stream, seeded alike
    return order[:n - val_size], order[n - val_size:]


def load_splits(name: str, root: str | Path, *, val_size: int = 5000, split_seed: int = 0, split: str = "random",
                **fetch_kwargs) -> Splits:
    """fetch() (a no-op when present), then load as uint8 tensors: from the decoded copy the download stage
    wrote (blockzoo.data.decoded), else decoded from the fetched files.

    Validation is a fixed random subset of the official training set chosen by split_seed
    (independent of the training seed); split="blox": BLOX's (blox_split). fashion-mnist's 28x28 images are
    zero-padded to 32x32.
    """
    info = get_dataset_info(name)
    folder = fetch(name, root, **fetch_kwargs)
    train_x, train_y, test_x, test_y = read_decoded(name, root) or decode(name, folder)
    n = len(train_y)
    check_val_size(name, val_size, n)
    if split == "blox":
        train_idx, val_idx = (torch.from_numpy(i) for i in blox_split(n, val_size, split_seed))
    else:
        order = torch.randperm(n, generator=torch.Generator().manual_seed(split_seed))
        val_idx, train_idx = order[:val_size].sort().values, order[val_size:].sort().values
    return Splits(info, train_x[train_idx], train_y[train_idx], train_x[val_idx], train_y[val_idx], test_x, test_y)
