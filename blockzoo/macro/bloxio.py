"""BLOX's released files, read and written in Python and numpy (no C extension).

BLOX (github.com/SamsungLabs/blox) publishes each part of its dataset (blox-info, blox-base-<seed>,
blox-ext-<seed>, blox-env-<seed>; its dataset.py also reads blox-bench-<device>) in three formats, written
by its tools/make_datasets.py and read by blox/io.py. Every file starts with a YAML header between
`---` lines (version, search_space, dataset_type, columns, ...; format: csv, pickle or custom), then:
  csv     rows without a header row; lists as Python's str() of the list; CRLF line ends
  pickle  pickle of the list of rows (protocol 4, BLOX's default under Python 3.8-3.13)
  custom  the `.blox` files: bit-packed rows (bloxcodec documents the layout)
Accuracy is percent with 3 decimals, loss 6 decimals (csv and pickle; `.blox` quantises them).

read_file(path) -> (header, Table): the rows as columns (bloxtable), the values equal to what BLOX's own
reader returns for the same file. write_file(path, header, rows) writes what BLOX's writer writes for the
same rows, byte for byte. Every problem with a file is one BlockzooError line. BLOX's model hash: bloxhash.
"""
from __future__ import annotations

import csv
import io
import pickle
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import yaml

from blockzoo import atomic
from blockzoo.errors import BlockzooError
from blockzoo.macro.blox import OPS, STAGES
from blockzoo.macro.bloxcodec import decode, encode
from blockzoo.macro.bloxtable import Table, table_from_rows

NODES = 2  # per BLOX cell
FORMATS = {".blox": "custom", ".pickle": "pickle", ".csv": "csv"}
HEADER_LIMIT = 1024  # BLOX's reader looks for the header's end in the first 1,024 bytes
PICKLE_PROTOCOL = 4


# --- reading ----------------------------------------------------------------------------------------------

def read_file(path: str | Path) -> tuple[dict, Table]:
    """One BLOX file of any of the three formats: (header, Table). One BlockzooError line for a file that is
    not BLOX's, truncated or corrupt."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BlockzooError(f"cannot read {path}: {exc.strerror}") from None
    header, body = split_header(raw, path)
    fmt = header["format"]
    try:
        if fmt == "csv":
            table = _read_csv(header, body, path)
        elif fmt == "pickle":
            table = table_from_rows(header["columns"], _safe_unpickle(body, path), str(path))
        else:
            table = decode(header, body, path)
    except (ValueError, TypeError, IndexError, KeyError, struct.error) as exc:
        raise BlockzooError(f"{path} is corrupt or truncated ({type(exc).__name__}: {exc}); download it again") \
            from None
    return header, table


def split_header(raw: bytes, path: Path) -> tuple[dict, bytes]:
    if not raw.startswith(b"---\n"):
        raise BlockzooError(f"{path} is not a BLOX dataset file (it does not start with a YAML header between --- "
                            "lines); BLOX's files are blox-info, blox-base-N, blox-ext-N, blox-env-N (.blox, .pickle, "
                            ".csv)")
    end = raw.find(b"---\n", 3, 1 << 16)
    if end == -1:
        raise BlockzooError(f"{path}: its YAML header does not end (no closing --- line); the file is truncated or "
                            "not BLOX's")
    try:
        header = yaml.safe_load(raw[:end].decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise BlockzooError(f"{path}: its header is not YAML ({str(exc).splitlines()[0]}); not a BLOX file") from None
    missing = [k for k in ("format", "columns", "dataset_type") if not isinstance(header, dict) or k not in header]
    if missing:
        raise BlockzooError(f"{path}: its header lacks {', '.join(missing)}; not a BLOX dataset file")
    if header["format"] not in FORMATS.values():
        raise BlockzooError(f"{path}: unknown format {header['format']!r} (BLOX writes csv, pickle, custom)")
    if not isinstance(header["columns"], list) or not header["columns"] or header["columns"][0] != "model_hash":
        raise BlockzooError(f"{path}: its columns do not start with model_hash; not a BLOX dataset file")
    return header, raw[end + 4:]


class _Rows(pickle.Unpickler):
    """Unpickles lists, numbers and strings only: a BLOX file holds nothing else, and nothing else runs."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"the pickle refers to {module}.{name}, which a BLOX file never holds")


def _safe_unpickle(body: bytes, path: Path):
    try:
        return _Rows(io.BytesIO(body)).load()
    except (pickle.UnpicklingError, EOFError) as exc:
        raise BlockzooError(f"{path} is corrupt or truncated (its pickle: {exc or 'ends early'}); download it again") \
            from None


def _read_csv(header: dict, body: bytes, path: Path) -> Table:
    text = body.decode("utf-8")
    if text and not text.endswith("\n"):
        raise BlockzooError(f"{path} is truncated (its last row does not end); download it again")
    columns = header["columns"]
    csv_rows = list(csv.reader(io.StringIO(text, newline="")))
    if not all(len(r) == len(columns) for r in csv_rows):
        bad = next(i for i, r in enumerate(csv_rows) if len(r) != len(columns))
        raise BlockzooError(f"{path}: row {bad + 1} has {len(csv_rows[bad])} values, its header names {len(columns)} "
                            "columns; the file is corrupt or truncated")
    hashes = [r[0] for r in csv_rows]
    data, kinds = {}, {}
    for j, column in enumerate(columns[1:], 1):
        values = [r[j] for r in csv_rows]
        data[column], kinds[column] = _parse_csv_column(column, values)
    return Table(columns, hashes, data, kinds)


def _parse_csv_column(column: str, values: list[str]) -> tuple[object, str]:
    """BLOX's io.parse_csv, per column: top/loss lists and test scalars as floats, train_time_s and params as
    ints, flops as a float (an int when whole: what BLOX's API gives, as it reads blox-info from .pickle only),
    arch_vec as nested lists, anything else as the text."""
    if "top" in column or "loss" in column:
        if "test" in column:
            return np.array([float(v) for v in values], dtype=np.float64), "array"
        return _float_lists(values), ("array" if isinstance(_float_lists(values[:1]), np.ndarray) else "list")
    if column in ("train_time_s", "params"):
        return np.array([int(v) for v in values], dtype=np.int64), "array"
    if column == "flops":  # BLOX's parse_csv: float(); whole numbers as ints, as BLOX's API (from .pickle) gives
        flops = np.array([float(v) for v in values], dtype=np.float64)
        whole = bool(np.all(flops == np.round(flops))) and bool(np.all(np.abs(flops) < 2 ** 53))
        return (flops.astype(np.int64) if whole else flops), "array"
    if column == "arch_vec":
        flat = np.array([[int(x) for x in v.replace("[", "").replace("]", "").split(",")] for v in values],
                        dtype=np.int64)
        if flat.shape[1:] != (5 * STAGES,):
            raise ValueError("an arch_vec is not 15 integers")
        codes = ((flat[:, 0::5] * 3 + flat[:, 1::5]) << 3) | (flat[:, 2::5] << 2) | (flat[:, 3::5] << 1) | flat[:, 4::5]
        return codes.astype(np.uint8), "arch"
    return values, "list"


def _float_lists(values: list[str]):
    """'[1.5, 2.0]' values as one float64 array (rows x length) when of one length, else lists; float() of each."""
    if not values:
        return np.zeros((0, 0))
    inner = [v[1:-1] for v in values]
    lengths = {v.count(",") + 1 for v in inner}
    if len(lengths) == 1:
        flat = np.array(",".join(inner).split(","), dtype=np.float64)  # numpy's parse: correctly rounded, as float()
        return flat.reshape(len(values), lengths.pop())
    return [[float(x) for x in v.split(",")] for v in inner]


# --- writing ----------------------------------------------------------------------------------------------

def search_space_header() -> dict:
    """BLOX's header search_space block (one list object thrice, as BLOX builds it: YAML writes an alias)."""
    stage = [[len(OPS)] + ([2, 2, 2] if n else []) for n in range(NODES)]
    return {"shape": [stage] * STAGES, "nodes": NODES, "stages": STAGES, "ops": list(OPS)}


def make_header(dtype: str, extra_columns: Sequence[str] = (), **extra) -> dict:
    """BLOX's tools/make_datasets.make_header."""
    header = {"version": 1, "search_space": search_space_header(), "dataset_type": dtype,
              "columns": ["model_hash", *extra_columns], **extra}
    if dtype == "training":
        header["columns"] += (["val_top1", "test_top1", "train_time_s"] if extra["part"] == "base" else
                              ["train_top1", "train_loss", "train_top5", "val_loss", "val_top5", "test_loss",
                               "test_top5"])
    elif dtype == "static":
        header["columns"] += ["params", "flops", "arch_vec"]
    elif dtype == "benchmarking":
        header["columns"] += ["latency"]
    return header


def round_floats(columns: Sequence[str], rows: list) -> list:
    """BLOX's make_datasets.round_floats: accuracies to 3 decimals, losses to 6 (csv and pickle)."""
    out = []
    for row in rows:
        new = list(row)
        for j, column in enumerate(columns):
            digits = 3 if "top" in column else (6 if "loss" in column else None)
            if digits is not None:
                value = row[j]
                new[j] = round(value, digits) if "test" in column else [round(v, digits) for v in value]
        out.append(new)
    return out


def _header_bytes(header: dict, fmt: str, path: Path) -> bytes:
    text = yaml.dump({**header, "format": fmt}, explicit_start=True, sort_keys=False) + "---\n"
    if len(text.encode()) > HEADER_LIMIT:
        raise BlockzooError(f"{path}: the header would be {len(text)} bytes; BLOX's reader reads 1,024 at most "
                            "(fewer or shorter columns)")
    return text.encode("utf-8")


def write_file(path: str | Path, header: dict, rows: list) -> Path:
    """One BLOX file, its format from the suffix (.blox, .pickle, .csv), as BLOX's make_datasets writes it."""
    path = Path(path)
    fmt = FORMATS.get(path.suffix)
    if fmt is None:
        raise BlockzooError(f"{path}: BLOX's formats are {', '.join(FORMATS)}")
    if not rows:
        raise BlockzooError(f"{path}: nothing to write (BLOX's writer needs at least one row)")
    columns = header["columns"]
    if fmt == "pickle":
        blob = _header_bytes(header, fmt, path) + pickle.dumps(round_floats(columns, rows), protocol=PICKLE_PROTOCOL)
    elif fmt == "csv":
        text = io.StringIO(newline="")
        csv.writer(text).writerows(round_floats(columns, rows))
        blob = _header_bytes(header, fmt, path) + text.getvalue().encode("utf-8")
    else:
        types, body = encode(columns, rows)
        blob = _header_bytes({**header, "format": "custom", "column_types": types}, "custom", path) + body
    with atomic.atomic_path(path) as tmp:
        tmp.write_bytes(blob)
    return path


__all__ = ["FORMATS", "make_header", "read_file", "round_floats", "search_space_header", "write_file"]
