"""Fetch and verify a dataset's files.

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
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import torchvision.datasets
from torchvision.datasets import FashionMNIST
from torchvision.datasets.utils import USER_AGENT, calculate_md5, check_integrity
from tqdm import tqdm

from blockzoo.data.catalogue import SINGLE_ARCHIVE, check_source, get_dataset_info
from blockzoo.errors import BlockzooError

CIFAR_CLASSES = {name: getattr(torchvision.datasets, cls) for name, cls in SINGLE_ARCHIVE.items()}
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
    check_source(name, url=url, archive=archive, md5=md5)
    root, md5 = Path(root), md5.lower() if md5 else None
    archive = Path(archive) if archive is not None else None

    target = fetched_folder(name, root)
    fingerprint = _fingerprint(name, md5)
    if _is_complete(name, target, fingerprint):
        return target

    created = [folder for folder in (root, *root.parents) if not folder.exists()]  # deepest first
    root.mkdir(parents=True, exist_ok=True)
    try:
        _remove_abandoned_temp_folders(root)
        with tempfile.TemporaryDirectory(dir=root, prefix=f"{_TMP_PREFIX}{name}-{os.getpid()}-") as tmp:
            tmp = Path(tmp)
            if name in CIFAR_CLASSES:
                staged = _stage_cifar(name, tmp, url=url, archive=archive, md5=md5)
            else:
                staged = _stage_fashion(tmp, url=url, folder=archive)
            (staged / _MARKER).write_text(json.dumps({"dataset": name, "verified": fingerprint}) + "\n")
            _move_into_place(staged, target, trash=tmp / "replaced")
    except BaseException:  # no network, a bad archive, Ctrl-C: the folders made here go again while empty
        for folder in created:
            try:
                folder.rmdir()
            except OSError:
                break
        raise
    return target


def fetched_folder(name: str, root: str | Path) -> Path:
    """Where fetch(name, root) puts the dataset's files."""
    return Path(root) / (CIFAR_CLASSES[name].base_folder if name in CIFAR_CLASSES else _FASHION_FOLDER)


def verified_marker(name: str, root: str | Path) -> dict | None:
    """What fetch() verified the files under root against (None: no marker there)."""
    try:
        return json.loads((fetched_folder(name, root) / _MARKER).read_text())
    except (OSError, ValueError):
        return None


def _supply_hint(name: str) -> str:
    return (f"download it elsewhere and set data.archive in conf/setting/default.yaml (or -S data.archive=PATH, or "
            f"--data-archive) to the {get_dataset_info(name).archive}, or set data.url (or --data-url) to a mirror")


def _fingerprint(name: str, md5: str | None) -> str:
    """What a complete folder must have been verified against."""
    if name in CIFAR_CLASSES:
        return md5 or CIFAR_CLASSES[name].tgz_md5
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
    if name in CIFAR_CLASSES:
        cls = CIFAR_CLASSES[name]
        return [*cls.train_list, *cls.test_list, (cls.meta["filename"], cls.meta["md5"])]
    return list(_FASHION_RAW_MD5.items())


def _missing_files(name: str, folder: Path) -> list[str]:
    return [fname for fname, _ in _official_files(name) if not (folder / fname).is_file()]


def _checked_cifar_folder(name: str, folder: Path, md5: str | None) -> Path:
    """An extracted folder given by the user (or the one holding it), checked; see fetch()."""
    base_folder = CIFAR_CLASSES[name].base_folder
    if folder.name != base_folder and (folder / base_folder).is_dir():
        folder = folder / base_folder
    missing = _missing_files(name, folder)
    if missing:
        raise BlockzooError(f"data.archive folder {folder} lacks {', '.join(missing)}; point data.archive "
                            f"(--data-archive) at the {get_dataset_info(name).archive}")
    corrupt = [] if md5 else [f for f, file_md5 in _official_files(name) if not check_integrity(folder / f, file_md5)]
    if corrupt:
        raise BlockzooError(f"data.archive folder {folder}: {', '.join(corrupt)} do not have the official {name} md5s; "
                            f"it was not used: extract {CIFAR_CLASSES[name].filename} again (or, for your own data in "
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
    cls = CIFAR_CLASSES[name]
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
                            f"{CIFAR_CLASSES[name].filename}; {_supply_hint(name)}") from None


def _stage_fashion(tmp: Path, *, url: str | None, folder: Path | None) -> Path:
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
                                f"data.archive (--data-archive) at the {get_dataset_info('fashion-mnist').archive}")
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
    # URLError, HTTPError, timeouts are OSErrors; a malformed response is an HTTPException,
    # a malformed URL a ValueError.
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
