"""A small fake CIFAR archive in the real one's exact layout, served from 127.0.0.1.

Tests use it instead of the internet. Each class has its own colour and stripe pattern, so a
tiny network trained for a few steps beats chance.

    with served_fake_archive(tmp_dir, "cifar100", n_train=2000, n_test=500) as fake:
        fetch("cifar100", root, url=fake.url, md5=fake.md5)
"""
from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import http.server
import io
import pickle
import socket
import struct
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torchvision.datasets import CIFAR10, CIFAR100

CIFAR_CLASSES = {"cifar100": CIFAR100, "cifar10": CIFAR10}  # their filename / base_folder / file lists
NUM_CLASSES = {"cifar100": 100, "cifar10": 10}


@dataclass(frozen=True)
class FakeArchive:
    name: str  # "cifar100" | "cifar10"
    path: Path  # the .tar.gz file, named as the official one
    md5: str
    url: str  # where it is served; empty when not served


def archive_filename(name: str) -> str:
    return CIFAR_CLASSES[name].filename


def make_cifar_archive(path: str | Path, name: str = "cifar100", n_train: int = 2000, n_test: int = 500,
                       seed: int = 0) -> str:
    """Write a fake CIFAR-100 or CIFAR-10 .tar.gz at `path`; return its md5 (the same for the same arguments)."""
    num_classes = NUM_CLASSES[name]
    rng = np.random.default_rng(seed)
    looks = _class_looks(rng, num_classes)
    train = _labelled_images(rng, looks, n_train)
    test = _labelled_images(rng, looks, n_test)
    if name == "cifar100":
        members = _cifar100_members(train, test)
    else:
        members = _cifar10_members(train, test)
    base_folder = CIFAR_CLASSES[name].base_folder
    Path(path).write_bytes(_tar_gz(base_folder, members))
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


# --- images -----------------------------------------------------------------------------------

@dataclass
class _ClassLooks:
    colour: np.ndarray  # (K, 3) mean RGB
    angle: np.ndarray  # (K,) stripe direction
    frequency: np.ndarray  # (K,) stripe cycles per image


def _class_looks(rng: np.random.Generator, num_classes: int) -> _ClassLooks:
    return _ClassLooks(colour=rng.uniform(30, 225, (num_classes, 3)),
                       angle=rng.uniform(0, np.pi, num_classes),
                       frequency=rng.integers(1, 5, num_classes).astype(float))


def _labelled_images(rng: np.random.Generator, looks: _ClassLooks, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, 3072) uint8 rows in CIFAR's channel-major order, and balanced labels in shuffled order."""
    labels = rng.permutation(np.arange(n) % len(looks.colour))
    y, x = np.mgrid[0:32, 0:32] / 32
    along = (x[None] * np.cos(looks.angle[labels])[:, None, None]
             + y[None] * np.sin(looks.angle[labels])[:, None, None])
    phase = rng.uniform(0, 2 * np.pi, (n, 1, 1))  # random per image, so the pattern is not a fixed position
    stripes = 40 * np.sin(2 * np.pi * looks.frequency[labels][:, None, None] * along + phase)  # (n, 32, 32)
    images = looks.colour[labels][:, :, None, None] + stripes[:, None] + rng.normal(0, 12, (n, 3, 32, 32))
    return np.clip(images, 0, 255).round().astype(np.uint8).reshape(n, 3 * 32 * 32), labels


# --- the archive's files ------------------------------------------------------------------------

def _filenames(labels: np.ndarray, label_names: list[str]) -> list[str]:
    return [f"{label_names[label]}_s_{i:06d}.png" for i, label in enumerate(labels)]


def _cifar100_members(train, test) -> dict[str, bytes]:
    fine_names = [f"fine_class_{k:02d}" for k in range(100)]
    coarse_names = [f"coarse_class_{k:02d}" for k in range(20)]

    def batch(images, labels, batch_label):
        return {"filenames": _filenames(labels, fine_names), "batch_label": batch_label,
                "fine_labels": labels.tolist(), "coarse_labels": (labels // 5).tolist(), "data": images}

    return {"train": _py2_pickle(batch(*train, "training batch 1 of 1")),
            "test": _py2_pickle(batch(*test, "testing batch 1 of 1")),
            "meta": _py2_pickle({"fine_label_names": fine_names, "coarse_label_names": coarse_names})}


def _cifar10_members(train, test) -> dict[str, bytes]:
    names = [f"class_{k}" for k in range(10)]

    def batch(images, labels, batch_label):
        return {"batch_label": batch_label, "labels": labels.tolist(), "data": images,
                "filenames": _filenames(labels, names)}

    train_images, train_labels = train
    members = {}
    for i, rows in enumerate(np.array_split(np.arange(len(train_labels)), 5), start=1):
        members[f"data_batch_{i}"] = _py2_pickle(batch(train_images[rows], train_labels[rows],
                                                       f"training batch {i} of 5"))
    members["test_batch"] = _py2_pickle(batch(*test, "testing batch 1 of 1"))
    members["batches.meta"] = _py2_pickle({"num_cases_per_batch": len(train_labels) // 5, "label_names": names,
                                           "num_vis": 3072})
    return members


class _Py2Pickler(pickle._Pickler):  # the pure-Python pickler, whose dispatch table can be changed
    """Writes str and bytes as Python 2 `str`, as the real CIFAR pickles were written.

    So the fake loads exactly like the real files: str keys with encoding="latin1" (torchvision),
    bytes keys (b"data") with encoding="bytes" (the CIFAR web page's recipe).
    """

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj):
        data = obj.encode("latin1") if isinstance(obj, str) else obj
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[str] = save_py2_str
    dispatch[bytes] = save_py2_str


def _py2_pickle(obj) -> bytes:
    buffer = io.BytesIO()
    _Py2Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


def _tar_gz(base_folder: str, members: dict[str, bytes]) -> bytes:
    """A .tar.gz with base_folder/ and its files, byte-for-byte reproducible (fixed times)."""
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w", format=tarfile.GNU_FORMAT) as tar:
        folder = tarfile.TarInfo(base_folder)
        folder.type, folder.mode, folder.mtime = tarfile.DIRTYPE, 0o755, 1_230_000_000
        tar.addfile(folder)
        for name, data in members.items():
            info = tarfile.TarInfo(f"{base_folder}/{name}")
            info.size, info.mode, info.mtime = len(data), 0o644, 1_230_000_000
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(tar_bytes.getvalue(), compresslevel=6, mtime=0)


# --- serving ----------------------------------------------------------------------------------

class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves files; with send_fraction < 1 it announces the full size but sends only that
    fraction, then closes (or, with stall, keeps the connection open until the server stops)."""

    def __init__(self, *args, send_fraction: float, stall: threading.Event | None, **kwargs):
        self.send_fraction, self.stall = send_fraction, stall
        super().__init__(*args, **kwargs)

    def copyfile(self, source, outputfile):
        if self.send_fraction >= 1:
            return super().copyfile(source, outputfile)
        data = source.read()
        outputfile.write(data[: int(len(data) * self.send_fraction)])
        outputfile.flush()
        if self.stall is not None:
            self.stall.wait()

    def log_message(self, format, *args):
        pass


@contextlib.contextmanager
def serve_directory(directory: str | Path, *, send_fraction: float = 1.0, stall: bool = False) -> Iterator[str]:
    """Serve `directory` over HTTP on 127.0.0.1 (a free port) in a thread; yield the base URL, ending in "/".

    send_fraction < 1 simulates a dropped download: the full Content-Length, then only that part of
    the bytes; with stall=True the connection then hangs (until exit) instead of closing.
    """
    stop_stalling = threading.Event() if stall else None
    handler = functools.partial(_Handler, directory=str(directory), send_fraction=send_fraction, stall=stop_stalling)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        if stop_stalling is not None:
            stop_stalling.set()
        server.shutdown()
        server.server_close()
        thread.join()


def unreachable_url(filename: str = "archive.tar.gz") -> str:
    """A URL on a 127.0.0.1 port that nothing listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/{filename}"


@contextlib.contextmanager
def served_fake_archive(directory: str | Path, name: str = "cifar100", n_train: int = 2000, n_test: int = 500,
                        seed: int = 0) -> Iterator[FakeArchive]:
    """make_cifar_archive() into `directory` under the official file name, then serve_directory() it."""
    path = Path(directory) / archive_filename(name)
    md5 = make_cifar_archive(path, name, n_train=n_train, n_test=n_test, seed=seed)
    with serve_directory(directory) as base_url:
        yield FakeArchive(name, path, md5, base_url + path.name)
