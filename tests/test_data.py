"""blockzoo.data: fetch (against fake archives on 127.0.0.1), load_splits, DeviceLoader."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import urllib.error
from pathlib import Path

import pytest
import torch
import torchvision.datasets
import torchvision.datasets.cifar

from conftest import DEBIAN_FASHION_MNIST
from fake_cifar import archive_filename, make_cifar_archive, serve_directory, unreachable_url

import blockzoo
from blockzoo.data.catalogue import DATASETS, get_dataset_info
from blockzoo.data.decoded import FOLDER as DECODED
from blockzoo.data.decoded import read_decoded, write_decoded
from blockzoo.data.fetch import fetch
from blockzoo.data.loader import DeviceLoader
from blockzoo.data.splits import load_splits
from blockzoo.errors import BlockzooError


def assert_one_line_error(excinfo, *fragments: str) -> None:
    message = str(excinfo.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def served_copy(tmp_path: Path, fake, corrupt: bool = False) -> Path:
    """A folder of its own holding the fake archive, optionally with bytes flipped in the middle."""
    folder = tmp_path / "served"
    folder.mkdir()
    data = bytearray(fake.path.read_bytes())
    if corrupt:
        data[len(data) // 2: len(data) // 2 + 16] = bytes(16)
    (folder / fake.path.name).write_bytes(bytes(data))
    return folder


def extract(archive: Path, destination: Path) -> Path:
    with tarfile.open(archive) as tar:
        tar.extractall(destination, filter="data")
    return destination


# --- DatasetInfo --------------------------------------------------------------------------------

def test_dataset_info_for_each_dataset():
    assert {name: (i.num_classes, i.in_chans, len(i.mean), len(i.std)) for name, i in DATASETS.items()} == {
        "cifar100": (100, 3, 3, 3), "cifar10": (10, 3, 3, 3), "fashion-mnist": (10, 1, 1, 1)}
    assert get_dataset_info("cifar10") is DATASETS["cifar10"]


def test_unknown_dataset_lists_the_valid_names():
    with pytest.raises(BlockzooError) as excinfo:
        get_dataset_info("imagenet")
    assert_one_line_error(excinfo, "imagenet", "cifar100", "cifar10", "fashion-mnist")


# --- fetch ------------------------------------------------------------------------------------

def test_download_verifies_and_extracts_in_torchvision_layout(fake_cifar100, tmp_path):
    folder = fetch("cifar100", tmp_path, url=fake_cifar100.url, md5=fake_cifar100.md5)
    assert folder == tmp_path / "cifar-100-python"
    assert {"train", "test", "meta"} <= set(entries(folder))
    assert entries(tmp_path) == ["cifar-100-python"]  # no archive, no temporary folder left


def test_mirror_url_ending_in_slash_gets_the_official_file_name(fake_cifar100, tmp_path):
    base_url = fake_cifar100.url.removesuffix(fake_cifar100.path.name)
    assert fetch("cifar100", tmp_path, url=base_url, md5=fake_cifar100.md5) == tmp_path / "cifar-100-python"


def test_second_fetch_needs_no_network(fake_cifar100, tmp_path):
    with serve_directory(fake_cifar100.path.parent) as base_url:
        url = base_url + fake_cifar100.path.name
        first = fetch("cifar100", tmp_path, url=url, md5=fake_cifar100.md5)
    # The server is gone: only a fetch that does not touch the network can succeed.
    assert fetch("cifar100", tmp_path, url=url, md5=fake_cifar100.md5) == first


def test_default_source_is_torchvision_official_url(tmp_path, monkeypatch):
    requested = []

    def offline_urlopen(request, timeout=None):
        requested.append(request.full_url)
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr("urllib.request.urlopen", offline_urlopen)
    with pytest.raises(BlockzooError) as excinfo:
        fetch("cifar100", tmp_path)
    assert requested == [torchvision.datasets.CIFAR100.url]
    assert_one_line_error(excinfo, torchvision.datasets.CIFAR100.url)


def test_corrupt_download_is_deleted_and_reported(fake_cifar100, tmp_path):
    root = tmp_path / "data"
    with serve_directory(served_copy(tmp_path, fake_cifar100, corrupt=True)) as base_url:
        with pytest.raises(BlockzooError) as excinfo:
            fetch("cifar100", root, url=base_url + fake_cifar100.path.name, md5=fake_cifar100.md5)
    assert_one_line_error(excinfo, f"expected md5 {fake_cifar100.md5}, got ")
    assert entries(root) == []


def test_unreachable_url_names_the_url_and_the_ways_out(tmp_path):
    url = unreachable_url("cifar-100-python.tar.gz")
    with pytest.raises(BlockzooError) as excinfo:
        fetch("cifar100", tmp_path / "data", url=url)
    assert_one_line_error(excinfo, url, "data.url", "--data-url", "data.archive", "--data-archive")
    assert "conf/setting/default.yaml" in str(excinfo.value) and "params.yaml" not in str(excinfo.value)  # never edited
    assert not (tmp_path / "data").exists()  # the folders fetch made are gone again: an offline run leaves none


def test_http_error_names_the_url_and_status(fake_cifar100, tmp_path):
    url = fake_cifar100.url + ".missing"
    with pytest.raises(BlockzooError) as excinfo:
        fetch("cifar100", tmp_path, url=url)
    assert_one_line_error(excinfo, url, "404")


def test_dropped_download_leaves_nothing_taken_for_complete(fake_cifar100, tmp_path):
    with serve_directory(fake_cifar100.path.parent, send_fraction=0.5) as base_url:
        with pytest.raises(BlockzooError) as excinfo:
            fetch("cifar100", tmp_path, url=base_url + fake_cifar100.path.name, md5=fake_cifar100.md5)
    assert_one_line_error(excinfo, "connection closed after")
    assert entries(tmp_path) == []
    with pytest.raises(BlockzooError):
        fetch("cifar100", tmp_path, url=unreachable_url(), md5=fake_cifar100.md5)


def test_killed_download_is_cleaned_up_and_not_taken_for_complete(fake_cifar100, tmp_path):
    repo_root = Path(blockzoo.__file__).parent.parent
    code = f"from blockzoo.data.fetch import fetch; fetch('cifar100', {str(tmp_path)!r}, url=__import__('sys').argv[1])"
    with serve_directory(fake_cifar100.path.parent, send_fraction=0.5, stall=True) as base_url:
        env = {**os.environ, "PYTHONPATH": str(repo_root)}
        process = subprocess.Popen([sys.executable, "-c", code, base_url + fake_cifar100.path.name], env=env)
        try:
            partial = wait_for_partial_download(tmp_path, process)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
    assert partial.exists()  # the dead process's leftovers are there...
    with pytest.raises(BlockzooError):
        fetch("cifar100", tmp_path, url=unreachable_url(), md5=fake_cifar100.md5)
    assert not partial.exists()  # ...until the next fetch removes them
    folder = fetch("cifar100", tmp_path, url=fake_cifar100.url, md5=fake_cifar100.md5)
    assert entries(tmp_path) == [folder.name]


def wait_for_partial_download(root: Path, process: subprocess.Popen, timeout_s: float = 30) -> Path:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        partial = [p for p in root.glob(".fetch-*/*.tar.gz") if p.stat().st_size > 0]
        if partial:
            return partial[0]
        time.sleep(0.05)
    raise AssertionError(f"no partial download appeared (process exit code {process.poll()})")


def test_local_archive_file(fake_cifar100, tmp_path):
    folder = fetch("cifar100", tmp_path / "data", archive=fake_cifar100.path, md5=fake_cifar100.md5)
    assert {"train", "test", "meta"} <= set(entries(folder))
    assert fake_cifar100.path.exists()


def test_corrupt_local_archive_is_refused_and_left_alone(fake_cifar100, tmp_path):
    archive = served_copy(tmp_path, fake_cifar100, corrupt=True) / fake_cifar100.path.name
    with pytest.raises(BlockzooError) as excinfo:
        fetch("cifar100", tmp_path / "data", archive=archive, md5=fake_cifar100.md5)
    assert_one_line_error(excinfo, str(archive), f"expected md5 {fake_cifar100.md5}")
    assert archive.exists()
    assert entries(tmp_path / "data") == []


def test_local_extracted_folder_is_copied_under_root(fake_cifar100, tmp_path):
    extracted = extract(fake_cifar100.path, tmp_path / "extracted")
    for given in (extracted / "cifar-100-python", extracted):
        root = tmp_path / given.name
        folder = fetch("cifar100", root, archive=given, md5=fake_cifar100.md5)
        assert folder == root / "cifar-100-python"
        assert (folder / "train").read_bytes() == (extracted / "cifar-100-python" / "train").read_bytes()


def test_local_folder_missing_a_file_is_refused(fake_cifar100, tmp_path):
    folder = extract(fake_cifar100.path, tmp_path / "extracted") / "cifar-100-python"
    (folder / "test").unlink()
    with pytest.raises(BlockzooError) as excinfo:
        fetch("cifar100", tmp_path / "data", archive=folder, md5=fake_cifar100.md5)
    assert_one_line_error(excinfo, "lacks test")
    assert entries(tmp_path / "data") == []


def test_local_folder_without_md5_must_hold_the_official_files(fake_cifar100, tmp_path):
    folder = extract(fake_cifar100.path, tmp_path / "extracted")
    with pytest.raises(BlockzooError) as excinfo:
        fetch("cifar100", tmp_path / "data", archive=folder)
    assert_one_line_error(excinfo, "train, test, meta", "official cifar100 md5s", "data.md5")
    assert entries(tmp_path / "data") == []


def test_a_different_md5_replaces_the_present_copy(fake_cifar100, tmp_path):
    fetch("cifar100", tmp_path / "data", archive=fake_cifar100.path, md5=fake_cifar100.md5)
    other = tmp_path / archive_filename("cifar100")
    other_md5 = make_cifar_archive(other, "cifar100", n_train=300, n_test=100, seed=1)
    splits = load_splits("cifar100", tmp_path / "data", val_size=100, archive=other, md5=other_md5)
    assert (len(splits.train_y), len(splits.test_y)) == (200, 100)
    assert entries(tmp_path / "data") == ["cifar-100-python"]


# --- load_splits --------------------------------------------------------------------------------

def torchvision_reading(name: str, root: Path, monkeypatch, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The files under root as torchvision reads them: an independent reader to compare with."""
    cls = {"cifar100": torchvision.datasets.CIFAR100, "cifar10": torchvision.datasets.CIFAR10}[name]
    # The fake archive's files do not have the real ones' md5s.
    monkeypatch.setattr(cls, "_check_integrity", lambda self: True)
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *args, **kwargs: True)
    dataset = cls(str(root), train=train)
    return torch.from_numpy(dataset.data).permute(0, 3, 1, 2), torch.tensor(dataset.targets)


def image_bytes(images: torch.Tensor) -> list[bytes]:
    return [image.numpy().tobytes() for image in images]


@pytest.mark.parametrize("name", ["cifar100", "cifar10"])
def test_splits_partition_the_official_training_set(name, request, tmp_path, monkeypatch):
    fake = request.getfixturevalue(f"fake_{name}")
    splits = load_splits(name, tmp_path, val_size=100, url=fake.url, md5=fake.md5)
    official_x, official_y = torchvision_reading(name, tmp_path, monkeypatch, train=True)
    n = len(official_y)
    assert splits.info is DATASETS[name]
    assert (splits.train_x.shape, splits.val_x.shape) == ((n - 100, 3, 32, 32), (100, 3, 32, 32))
    assert splits.train_x.dtype == splits.val_x.dtype == torch.uint8
    assert splits.train_y.dtype == splits.val_y.dtype == torch.int64
    train, val = image_bytes(splits.train_x), image_bytes(splits.val_x)
    assert not set(train) & set(val)
    assert sorted(train + val) == sorted(image_bytes(official_x))
    label_of = dict(zip(image_bytes(official_x), official_y.tolist(), strict=True))
    assert [label_of[b] for b in train + val] == torch.cat([splits.train_y, splits.val_y]).tolist()


def test_test_split_is_the_official_test_set(fake_cifar100, tmp_path, monkeypatch):
    splits = load_splits("cifar100", tmp_path, val_size=100, url=fake_cifar100.url, md5=fake_cifar100.md5)
    test_x, test_y = torchvision_reading("cifar100", tmp_path, monkeypatch, train=False)
    assert torch.equal(splits.test_x, test_x) and torch.equal(splits.test_y, test_y)


def test_split_depends_only_on_split_seed(fake_cifar100, tmp_path):
    def val_labels_and_first_pixels(split_seed):
        splits = load_splits("cifar100", tmp_path, val_size=200, split_seed=split_seed, archive=fake_cifar100.path,
                             md5=fake_cifar100.md5)
        return splits.val_x[:, 0, 0, 0].tolist(), splits.val_y.tolist()

    assert val_labels_and_first_pixels(0) == val_labels_and_first_pixels(0)
    assert val_labels_and_first_pixels(0) != val_labels_and_first_pixels(1)


def test_decoded_once_gives_the_same_splits(fake_cifar100, tmp_path):
    fetch("cifar100", tmp_path, archive=fake_cifar100.path, md5=fake_cifar100.md5)
    from_files = load_splits("cifar100", tmp_path, val_size=100, archive=fake_cifar100.path, md5=fake_cifar100.md5)
    folder = write_decoded("cifar100", tmp_path)
    assert sorted(entries(folder)) == ["source.json", "test_x.npy", "test_y.npy", "train_x.npy", "train_y.npy"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging folder left
    decoded = load_splits("cifar100", tmp_path, val_size=100, archive=fake_cifar100.path, md5=fake_cifar100.md5)
    for key in ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y"):
        assert torch.equal(getattr(decoded, key), getattr(from_files, key)), key
    assert decoded.train_y.dtype == torch.int64 and decoded.train_x.dtype == torch.uint8


def test_decoded_files_of_other_fetched_data_are_never_read(fake_cifar100, tmp_path):
    fetch("cifar100", tmp_path, archive=fake_cifar100.path, md5=fake_cifar100.md5)
    write_decoded("cifar100", tmp_path)
    assert read_decoded("cifar100", tmp_path) is not None
    assert read_decoded("cifar10", tmp_path) is None  # another dataset
    marker = tmp_path / "cifar-100-python" / ".blockzoo-verified.json"
    marker.write_text(marker.read_text().replace(fake_cifar100.md5, "0" * 32))  # the files were fetched anew
    assert read_decoded("cifar100", tmp_path) is None
    (tmp_path / DECODED / "source.json").unlink()  # a decoding that was cut short
    assert read_decoded("cifar100", tmp_path) is None


def test_val_size_must_fit_the_training_set(fake_cifar100, tmp_path):
    with pytest.raises(BlockzooError) as excinfo:
        load_splits("cifar100", tmp_path, val_size=2000, archive=fake_cifar100.path, md5=fake_cifar100.md5)
    assert_one_line_error(excinfo, "2000")


def test_fashion_mnist_from_the_debian_folder(tmp_path, debian_fashion_mnist):
    folder = fetch("fashion-mnist", tmp_path, archive=DEBIAN_FASHION_MNIST)
    assert folder == tmp_path / "FashionMNIST" / "raw"
    splits = load_splits("fashion-mnist", tmp_path, archive=DEBIAN_FASHION_MNIST)
    assert (splits.train_x.shape, splits.val_x.shape, splits.test_x.shape) == (
        (55000, 1, 32, 32), (5000, 1, 32, 32), (10000, 1, 32, 32))
    reference = torchvision.datasets.FashionMNIST(str(tmp_path), train=False)  # reads what fetch wrote
    assert torch.equal(splits.test_x[:, 0, 2:30, 2:30], reference.data)
    assert torch.equal(splits.test_y, reference.targets)
    assert splits.test_x[:, :, :2].sum() == splits.test_x[:, :, :, -2:].sum() == 0
    everything = torch.cat([splits.train_x, splits.val_x]).float() / 255
    info = DATASETS["fashion-mnist"]
    assert everything.mean().item() == pytest.approx(info.mean[0], abs=1e-3)
    assert everything.std().item() == pytest.approx(info.std[0], abs=1e-3)


def test_fashion_mnist_download_from_a_mirror(tmp_path, debian_fashion_mnist):
    with serve_directory(DEBIAN_FASHION_MNIST) as base_url:
        folder = fetch("fashion-mnist", tmp_path, url=base_url)
    assert sorted(entries(folder)) == sorted([".blockzoo-verified.json", "t10k-images-idx3-ubyte",
                                              "t10k-labels-idx1-ubyte", "train-images-idx3-ubyte",
                                              "train-labels-idx1-ubyte"])


def test_corrupt_fashion_mnist_file_is_refused(tmp_path, debian_fashion_mnist):
    local = shutil.copytree(DEBIAN_FASHION_MNIST, tmp_path / "local")
    labels = local / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:-100])
    with pytest.raises(BlockzooError) as excinfo:
        fetch("fashion-mnist", tmp_path / "data", archive=local)
    assert_one_line_error(excinfo, "t10k-labels-idx1-ubyte.gz", "corrupt")
    assert entries(tmp_path / "data") == []


# --- DeviceLoader -----------------------------------------------------------------------------

MEAN, STD = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)


def random_images(n: int, seed: int = 0) -> torch.Tensor:
    """Never 0, so any 0 in a batch is padding; random, so no image equals its own shift or mirror."""
    return torch.randint(1, 256, (n, 3, 32, 32), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def as_uint8(x: torch.Tensor) -> torch.Tensor:
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    return ((x.float() * std + mean) * 255).round().to(torch.uint8)


def one_epoch(loader: DeviceLoader) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*loader, strict=True)
    return torch.cat(xs), torch.cat(ys)


def test_eval_batches_are_in_order_normalised_and_keep_the_last_partial_batch():
    images, ids = random_images(150), torch.arange(150)
    loader = DeviceLoader(images, ids, batch_size=64, mean=MEAN, std=STD)
    batches = list(loader)
    assert len(loader) == 3 and [len(y) for _, y in batches] == [64, 64, 22]
    x, y = one_epoch(loader)
    assert x.dtype == torch.float32 and x.shape == (150, 3, 32, 32) and y.dtype == torch.int64
    assert torch.equal(y, ids)
    assert torch.equal(as_uint8(x), images)
    per_channel_mean = ((images.float() / 255).mean((0, 2, 3)) - torch.tensor(MEAN)) / torch.tensor(STD)
    assert torch.allclose(x.mean((0, 2, 3)), per_channel_mean, atol=1e-5)


def test_train_epoch_yields_every_sample_exactly_once():
    loader = DeviceLoader(random_images(150), torch.arange(150), batch_size=32, mean=MEAN, std=STD, train=True,
                          drop_last=False)
    _, ids = one_epoch(loader)
    assert sorted(ids.tolist()) == list(range(150))
    dropping = DeviceLoader(random_images(150), torch.arange(150), batch_size=32, mean=MEAN, std=STD, train=True)
    _, ids = one_epoch(dropping)
    assert len(dropping) == 4 and len(ids) == 128 and len(set(ids.tolist())) == 128


def test_order_comes_from_seed_and_epoch():
    def order(seed, epoch):
        loader = DeviceLoader(random_images(100), torch.arange(100), batch_size=10, mean=MEAN, std=STD, train=True,
                              seed=seed)
        loader.set_epoch(epoch)
        return one_epoch(loader)

    x, ids = order(seed=0, epoch=3)
    x_again, ids_again = order(seed=0, epoch=3)
    assert torch.equal(ids, ids_again) and torch.equal(x, x_again)
    assert not torch.equal(ids, order(seed=0, epoch=4)[1])
    assert not torch.equal(ids, order(seed=1, epoch=3)[1])
    assert not torch.equal(ids, torch.arange(100))


def test_each_iteration_advances_the_epoch():
    loader = DeviceLoader(random_images(100), torch.arange(100), batch_size=10, mean=MEAN, std=STD, train=True)
    first, second = one_epoch(loader)[1], one_epoch(loader)[1]
    assert not torch.equal(first, second)
    loader.set_epoch(0)
    assert torch.equal(one_epoch(loader)[1], first)


def shifted(images: torch.Tensor, dy: int, dx: int, pad: int) -> torch.Tensor:
    """The crop at offset (dy, dx) of the images zero-padded by pad, written without indexing tricks."""
    padded = torch.nn.functional.pad(images, (pad,) * 4)
    return padded[:, :, dy:dy + images.shape[2], dx:dx + images.shape[3]]


def test_crops_are_shifted_copies_with_zero_padding():
    images = random_images(256)
    loader = DeviceLoader(images, torch.arange(256), batch_size=256, mean=MEAN, std=STD, train=True, flip=False)
    x, ids = one_epoch(loader)
    crops, originals = as_uint8(x), images[ids]
    offsets_seen = set()
    for dy in range(9):
        for dx in range(9):
            matches = (crops == shifted(originals, dy, dx, pad=4)).flatten(1).all(1)
            if matches.any():
                offsets_seen.add((dy, dx))
            crops = crops[~matches]
            originals = originals[~matches]
    assert len(crops) == 0, "some crops are not a shifted copy of their image"
    assert len(offsets_seen) > 60  # 256 draws from 81 offsets
    assert {dy for dy, _ in offsets_seen} == set(range(9))


def test_about_half_the_images_are_mirrored():
    images = random_images(2000)
    loader = DeviceLoader(images, torch.arange(2000), batch_size=500, mean=MEAN, std=STD, train=True, pad=0)
    x, ids = one_epoch(loader)
    out, originals = as_uint8(x), images[ids]
    unchanged = (out == originals).flatten(1).all(1)
    mirrored = (out == originals.flip(3)).flatten(1).all(1)
    assert torch.all(unchanged ^ mirrored)
    assert 0.45 < mirrored.float().mean().item() < 0.55


def test_crop_and_mirror_together():
    images = random_images(64)
    loader = DeviceLoader(images, torch.arange(64), batch_size=64, mean=MEAN, std=STD, train=True, pad=2)
    x, ids = one_epoch(loader)
    out, originals = as_uint8(x), images[ids]
    candidates = [shifted(originals, dy, dx, pad=2) for dy in range(5) for dx in range(5)]
    candidates += [c.flip(3) for c in candidates]
    assert all(any(torch.equal(o, c[i]) for c in candidates) for i, o in enumerate(out))


def test_channels_last_and_dtype():
    loader = DeviceLoader(random_images(8), torch.arange(8), batch_size=4, mean=MEAN, std=STD, train=True,
                          channels_last=True, dtype=torch.bfloat16)
    x, y = next(iter(loader))
    assert x.dtype == torch.bfloat16 and x.shape == (4, 3, 32, 32)
    assert x.is_contiguous(memory_format=torch.channels_last)


def test_batch_larger_than_a_dropping_loader_is_refused():
    with pytest.raises(BlockzooError) as excinfo:
        DeviceLoader(random_images(8), torch.arange(8), batch_size=16, mean=MEAN, std=STD, train=True)
    assert_one_line_error(excinfo, "16", "8")
