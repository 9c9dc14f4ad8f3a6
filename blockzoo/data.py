"""Datasets: fetch and verify the files, load them as uint8 tensors, batch them on the device.

fetch() never leaves a half-written file where a later call could take it for complete: it
downloads, verifies and extracts inside a temporary folder in `root`, writes a marker saying
what the files were verified against, and renames the finished folder into place last.

The URLs, md5s and file lists are torchvision's (CIFAR10, CIFAR100, FashionMNIST class
attributes), and the folders have torchvision's layout, so torchvision's own dataset classes
read what fetch() wrote.
"""
from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import math
import os
import pickle
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.datasets import CIFAR10, CIFAR100, FashionMNIST
from torchvision.datasets.mnist import read_image_file, read_label_file
from torchvision.datasets.utils import USER_AGENT, calculate_md5, check_integrity
from tqdm import tqdm

from blockzoo.errors import BlockzooError

__all__ = ["DATASETS", "DatasetInfo", "DeviceLoader", "Splits", "fetch", "get_dataset_info", "load_splits"]


@dataclass(frozen=True)
class DatasetInfo:
    name: str  # "cifar100" | "cifar10" | "fashion-mnist"
    num_classes: int
    in_chans: int  # 3, or 1 for fashion-mnist
    mean: tuple[float, ...]  # per channel, on the 0..1 scale
    std: tuple[float, ...]


DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo("cifar100", 100, 3, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
        DatasetInfo("cifar10", 10, 3, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
        # Statistics of the 32x32 zero-padded images the network sees, not of the 28x28 originals.
        DatasetInfo("fashion-mnist", 10, 1, (0.2190,), (0.3318,)),
    )
}


def get_dataset_info(name: str) -> DatasetInfo:
    try:
        return DATASETS[name]
    except KeyError:
        raise BlockzooError(f"unknown dataset {name!r}; use one of: {', '.join(DATASETS)}") from None


# ---------------------------------------------------------------------------------------------
# fetch
# ---------------------------------------------------------------------------------------------

_CIFAR = {"cifar100": CIFAR100, "cifar10": CIFAR10}
_FASHION_FOLDER = Path("FashionMNIST", "raw")  # torchvision's layout under root
# md5s of the decompressed Fashion-MNIST files. torchvision only knows the md5s of the .gz files,
# and repackaged copies (Debian's dataset-fashion-mnist) are re-gzipped: same content, other md5.
_FASHION_RAW_MD5 = {
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}
_MARKER = ".blockzoo-verified.json"
_TMP_PREFIX = ".fetch-"
_TIMEOUT_S = 60
_CHUNK = 1 << 20


def fetch(name: str, root: str | Path, *, url: str | None = None, archive: str | Path | None = None,
          md5: str | None = None) -> Path:
    """Make the dataset's files present and verified under root; return the folder that holds them.

    Default source: torchvision's official URL and md5. `url`: a mirror of the same archive (for
    fashion-mnist, of the folder holding its four .gz files); a URL ending in "/" gets the official
    file name appended. `archive`: a local archive file (verified, then extracted) or an
    already-extracted folder (or the folder holding it), whose files are copied under root, so
    that root always holds the data (it is the download stage's DVC output): with no md5 they must
    have torchvision's per-file md5s; with an md5 (your own data in CIFAR's format) they only need
    to be there. For fashion-mnist, `archive` is a folder holding its four .gz or decompressed files.
    `md5` overrides the archive's expected md5 (cifar only).
    """
    get_dataset_info(name)
    if url is not None and archive is not None:
        raise BlockzooError("both data.url and data.archive are set; set only one of them "
                            "(or only one of --data-url / --data-archive)")
    if md5 is not None and name not in _CIFAR:
        raise BlockzooError(f"an md5 can only be given for a single-archive dataset ({', '.join(_CIFAR)}); "
                            f"{name} files are always checked against their official md5s: remove data.md5 (--data-md5)")
    root, md5 = Path(root), md5.lower() if md5 else None
    if archive is not None:
        archive = Path(archive)
        if not archive.exists():
            raise BlockzooError(f"data.archive {archive} does not exist; point data.archive (--data-archive) "
                                f"at the downloaded {_archive_description(name)}")

    target = root / (_CIFAR[name].base_folder if name in _CIFAR else _FASHION_FOLDER)
    fingerprint = _fingerprint(name, md5)
    if _is_complete(name, target, fingerprint):
        return target

    root.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_temp_folders(root)
    with tempfile.TemporaryDirectory(dir=root, prefix=f"{_TMP_PREFIX}{name}-{os.getpid()}-") as tmp:
        tmp = Path(tmp)
        if name in _CIFAR:
            staged = _stage_cifar(name, tmp, url=url, archive=archive, md5=md5)
        else:
            staged = _stage_fashion(tmp, url=url, folder=archive)
        (staged / _MARKER).write_text(json.dumps({"dataset": name, "verified": fingerprint}) + "\n")
        _move_into_place(staged, target, trash=tmp / "replaced")
    return target


def _archive_description(name: str) -> str:
    if name in _CIFAR:
        return f"{_CIFAR[name].filename} or its extracted folder {_CIFAR[name].base_folder}"
    return "folder holding the four Fashion-MNIST *-ubyte.gz files"


def _supply_hint(name: str) -> str:
    return (f"download it elsewhere and set data.archive in params.yaml (or --data-archive) to the "
            f"{_archive_description(name)}, or set data.url (or --data-url) to a mirror")


def _fingerprint(name: str, md5: str | None) -> str:
    """What a complete folder must have been verified against."""
    if name in _CIFAR:
        return md5 or _CIFAR[name].tgz_md5
    return ",".join(_FASHION_RAW_MD5.values())


def _is_complete(name: str, folder: Path, fingerprint: str) -> bool:
    marker = folder / _MARKER
    if marker.is_file():
        try:
            return json.loads(marker.read_text()).get("verified") == fingerprint
        except (OSError, ValueError):
            return False
    # No marker: maybe torchvision downloaded it. Accept it if every file has its official md5.
    return fingerprint == _fingerprint(name, None) and folder.is_dir() and all(
        check_integrity(folder / fname, file_md5) for fname, file_md5 in _official_files(name))


def _official_files(name: str) -> list[tuple[str, str]]:
    if name in _CIFAR:
        cls = _CIFAR[name]
        return [*cls.train_list, *cls.test_list, (cls.meta["filename"], cls.meta["md5"])]
    return list(_FASHION_RAW_MD5.items())


def _missing_files(name: str, folder: Path) -> list[str]:
    return [fname for fname, _ in _official_files(name) if not (folder / fname).is_file()]


def _checked_cifar_folder(name: str, folder: Path, md5: str | None) -> Path:
    """An extracted folder given by the user (or the one holding it), checked; see fetch()."""
    base_folder = _CIFAR[name].base_folder
    if folder.name != base_folder and (folder / base_folder).is_dir():
        folder = folder / base_folder
    missing = _missing_files(name, folder)
    if missing:
        raise BlockzooError(f"data.archive folder {folder} lacks {', '.join(missing)}; point data.archive "
                            f"(--data-archive) at the {_archive_description(name)}")
    corrupt = [] if md5 else [f for f, file_md5 in _official_files(name) if not check_integrity(folder / f, file_md5)]
    if corrupt:
        raise BlockzooError(f"data.archive folder {folder}: {', '.join(corrupt)} do not have the official {name} md5s; "
                            f"it was not used: extract {_CIFAR[name].filename} again (or, for your own data in "
                            f"this format, set data.md5 / --data-md5 to its archive's md5)")
    return folder


def _remove_abandoned_temp_folders(root: Path) -> None:
    """Delete what killed fetches left: temp folders whose process is gone."""
    for path in root.glob(f"{_TMP_PREFIX}*"):
        pid = path.name[len(_TMP_PREFIX):].split("-")[-2]
        if pid.isdigit() and not _process_alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, but belongs to someone else
        return True
    return True


def _move_into_place(staged: Path, target: Path, trash: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():  # incomplete, or verified against another md5
        os.replace(target, trash)
    os.replace(staged, target)


def _stage_cifar(name: str, tmp: Path, *, url: str | None, archive: Path | None, md5: str | None) -> Path:
    cls = _CIFAR[name]
    expected = md5 or cls.tgz_md5
    if archive is not None and archive.is_dir():
        folder, staged = _checked_cifar_folder(name, archive, md5), tmp / cls.base_folder
        staged.mkdir()
        for fname, _ in _official_files(name):
            shutil.copyfile(folder / fname, staged / fname)
        return staged
    if archive is None:
        url = url or cls.url
        if url.endswith("/"):
            url += cls.filename
        source, archive = url, tmp / cls.filename
        got = _download(name, url, archive)
        if got != expected:
            archive.unlink()
            raise BlockzooError(f"{cls.filename} downloaded from {url} is corrupt: expected md5 {expected}, got {got}; "
                                f"the file was deleted: retry, or {_supply_hint(name)} (and data.md5 / --data-md5 "
                                f"to its md5 if it is another archive on purpose)")
    else:
        source = f"data.archive {archive}"
        got = calculate_md5(archive)
        if got != expected:
            raise BlockzooError(f"data.archive {archive} is corrupt: expected md5 {expected}, got {got}; it was not "
                                f"used: download {cls.filename} again (or set data.md5 / --data-md5 to its md5 if "
                                f"it is another archive on purpose)")
    _extract_tar(name, archive, tmp / "extracted", source)
    folder = tmp / "extracted" / cls.base_folder
    missing = _missing_files(name, folder)
    if missing:
        raise BlockzooError(f"{source} lacks {', '.join(f'{cls.base_folder}/{m}' for m in missing)}: it is not a "
                            f"{cls.filename}; {_supply_hint(name)}")
    return folder


def _extract_tar(name: str, archive: Path, destination: Path, source: str) -> None:
    # Not torchvision's extract_archive: its extractall() has no member filter, and a mirror's
    # archive with a custom md5 is untrusted ("data" refuses absolute paths, "..", devices, links out).
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(destination, filter="data")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BlockzooError(f"could not extract {source} ({_one_line(exc)}): it is not a valid "
                            f"{_CIFAR[name].filename}; {_supply_hint(name)}") from None


def _stage_fashion(tmp: Path, *, url: str | None, folder: Path | None) -> Path:
    if folder is not None and not folder.is_dir():
        raise BlockzooError(f"data.archive {folder} is a file, but fashion-mnist comes as four files; set "
                            f"data.archive (--data-archive) to the {_archive_description('fashion-mnist')}")
    staged = tmp / "raw"
    staged.mkdir()
    for gz_name, gz_md5 in FashionMNIST.resources:
        raw_name = gz_name.removesuffix(".gz")
        if folder is None:
            base = url or FashionMNIST.mirrors[0]
            source = tmp / gz_name
            file_url = base.rstrip("/") + "/" + gz_name
            _download("fashion-mnist", file_url, source)
            where = f"downloaded from {file_url}"
        elif (folder / gz_name).is_file():
            source, where = folder / gz_name, f"in data.archive {folder}"
        elif (folder / raw_name).is_file():
            source, where = folder / raw_name, f"in data.archive {folder}"
        else:
            raise BlockzooError(f"data.archive folder {folder} has neither {gz_name} nor {raw_name}; point "
                                f"data.archive (--data-archive) at the {_archive_description('fashion-mnist')}")
        got = _copy_decompressed(source, staged / raw_name)
        if folder is None:
            source.unlink()  # the download; the decompressed copy is what stays
        if got != _FASHION_RAW_MD5[raw_name]:
            raise BlockzooError(
                f"fashion-mnist file {source.name} {where} is corrupt: expected md5 {gz_md5} (or "
                f"{_FASHION_RAW_MD5[raw_name]} once decompressed), got {got} once decompressed; it was not used: "
                f"{_supply_hint('fashion-mnist')}")
    return staged


def _copy_decompressed(source: Path, destination: Path) -> str:
    """Copy source (gzip or not) to destination, decompressed; return the md5 of what was written."""
    md5 = hashlib.md5()
    opener = gzip.open if source.suffix == ".gz" else open
    try:
        with opener(source, "rb") as src, open(destination, "wb") as dst:
            while chunk := src.read(_CHUNK):
                dst.write(chunk)
                md5.update(chunk)
    except (EOFError, gzip.BadGzipFile, OSError) as exc:
        return f"unreadable ({_one_line(exc)})"
    return md5.hexdigest()


def _download(name: str, url: str, destination: Path) -> str:
    """Stream url into destination; return the md5 of the bytes received."""
    md5, received = hashlib.md5(), 0
    try:
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response, open(destination, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=destination.name, disable=None) as bar:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    md5.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        if total is not None and received != total:
            # read(n) ends quietly when the connection drops early.
            raise ConnectionError(f"connection closed after {received} of {total} bytes")
    # URLError, HTTPError, timeouts are OSErrors; a malformed response is an HTTPException, a malformed URL a ValueError.
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise BlockzooError(f"could not download {url} ({_one_line(exc)}); {_supply_hint(name)}") from None
    return md5.hexdigest()


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        text = f"HTTP {exc.code} {exc.reason}"
    elif isinstance(exc, urllib.error.URLError):
        text = str(exc.reason)
    else:
        text = f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())


# ---------------------------------------------------------------------------------------------
# load_splits
# ---------------------------------------------------------------------------------------------

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
    if name in _CIFAR:
        cls = _CIFAR[name]
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


# ---------------------------------------------------------------------------------------------
# DeviceLoader
# ---------------------------------------------------------------------------------------------

class DeviceLoader:
    """The whole split held as one uint8 tensor on `device`; batches built on the device.

    train=True: reshuffled every epoch from (seed, epoch), per-sample random crop with zero padding
    `pad` and per-sample random horizontal flip, all in one gather on the device. Then converted to
    `dtype`, scaled to 0..1 and normalised with mean/std. train=False: fixed order, no augmentation,
    keeps the last partial batch.

    Each iteration uses the current epoch and advances it by one, so a loop that never calls
    set_epoch() still gets a new order each epoch; set_epoch(e) makes the next iteration epoch e
    (call it when resuming).
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, *, batch_size: int, mean, std,
                 device: str | torch.device = "cpu", train: bool = False, seed: int = 0, pad: int = 4,
                 flip: bool = True, drop_last: bool | None = None, channels_last: bool = False,
                 dtype: torch.dtype = torch.float32):
        if images.dtype != torch.uint8 or images.ndim != 4 or len(images) != len(labels):
            raise ValueError(f"need uint8 images (N, C, H, W) and N labels, got {images.dtype} "
                             f"{tuple(images.shape)} and {tuple(labels.shape)}")
        if len(mean) != images.shape[1] or len(std) != images.shape[1]:
            raise ValueError(f"mean and std need one value per channel ({images.shape[1]}), got {mean}, {std}")
        self.drop_last = train if drop_last is None else drop_last
        if batch_size < 1 or (self.drop_last and batch_size > len(images)):
            raise BlockzooError(f"batch size {batch_size} does not fit {len(images)} images; "
                                f"set a batch size between 1 and {len(images)}")
        if pad < 0 or seed < 0:
            raise ValueError(f"pad and seed must be >= 0, got pad={pad}, seed={seed}")
        self.device = torch.device(device)
        self.batch_size, self.train, self.seed, self.pad, self.flip = batch_size, train, seed, pad, flip
        self.channels_last, self.dtype = channels_last, dtype
        self.epoch = 0
        self.num_samples, channels, self.height, self.width = images.shape
        # Training reads crops from a zero-padded copy; the crop at offset (pad, pad) is the original.
        source = F.pad(images, (pad,) * 4) if train and pad else images
        self.images = source.to(self.device)
        self.labels = labels.to(self.device, torch.int64)
        mean = torch.tensor(mean, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        std = torch.tensor(std, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        self._scale, self._shift = 1 / (255 * std), mean / std
        _, _, padded_height, padded_width = self.images.shape
        self._sample_stride, self._row_stride = channels * padded_height * padded_width, padded_width
        self._channel_start = torch.arange(channels, device=self.device).view(1, -1, 1, 1) * padded_height * padded_width
        self._rows = torch.arange(self.height, device=self.device)
        self._cols = torch.arange(self.width, device=self.device)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        epoch, self.epoch = self.epoch, self.epoch + 1
        if self.train:
            order, offsets, flips = self._epoch_plan(epoch)
        for i in range(len(self)):
            batch = slice(i * self.batch_size, (i + 1) * self.batch_size)
            if self.train:
                index = order[batch]
                x = self._crop_and_flip(index, offsets[batch], flips[batch])
                y = self.labels[index]
            else:
                x, y = self.images[batch], self.labels[batch]
            yield self._normalise(x), y

    def _epoch_plan(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Order, crop offsets and flips for one epoch, drawn on the CPU so every device gets the same."""
        seed = int(np.random.SeedSequence((self.seed, epoch)).generate_state(1, np.uint64)[0])
        generator = torch.Generator().manual_seed(seed)
        n = self.num_samples
        order = torch.randperm(n, generator=generator)
        offsets = torch.randint(0, 2 * self.pad + 1, (n, 2), generator=generator)
        flips = torch.rand(n, generator=generator) < 0.5 if self.flip else torch.zeros(n, dtype=torch.bool)
        return order.to(self.device), offsets.to(self.device), flips.to(self.device)

    def _crop_and_flip(self, index: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
        """Gather each sample's window of the padded images, columns reversed where flipped."""
        rows = offsets[:, :1] + self._rows  # (B, H)
        cols = offsets[:, 1:] + torch.where(flips[:, None], self._cols.flip(0), self._cols)  # (B, W)
        # One flat index per output pixel and a single take(): 3x faster on CPU than 4-way advanced indexing.
        flat = ((index * self._sample_stride).view(-1, 1, 1, 1) + self._channel_start
                + (rows * self._row_stride)[:, None, :, None] + cols[:, None, None, :])
        return self.images.take(flat)

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        x = (x.float() * self._scale - self._shift).to(self.dtype)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x
