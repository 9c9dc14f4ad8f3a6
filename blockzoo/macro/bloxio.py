"""BLOX's released files, read and written in Python and numpy (no C extension), and BLOX's model hash.

BLOX (github.com/SamsungLabs/blox) publishes each part of its dataset (blox-info, blox-base-<seed>,
blox-ext-<seed>, blox-env-<seed>; its dataset.py also reads blox-bench-<device>) in three formats, written
by its tools/make_datasets.py and read by blox/io.py. Every file starts with a YAML header between
`---` lines (version, search_space, dataset_type, columns, ...; format: csv, pickle or custom), then:
  csv     rows without a header row; lists as Python's str() of the list; CRLF line ends
  pickle  pickle of the list of rows (protocol 4, BLOX's default under Python 3.8-3.13)
  custom  the `.blox` files: zlib of (u64 bit count, u32 rows, rows), each field byte-aligned; the header
          also holds column_types: hash (16 bytes LE), str (1 length byte + ASCII), float (3 bytes LE,
          x 1e-6), int (u32 LE), arch (1 byte per cell: (op1*3 + op2) << 3 | prev << 2 | input << 1 | sc),
          b_<min>_<max>_<bits> (an accuracy as the number of correct images minus min, in `bits` bits;
          45,000 images for train, 5,000 val, 10,000 test), list[T] (1 length byte, then the items; the
          quantised items packed LSB first without padding).
Accuracy is percent with 3 decimals, loss 6 decimals (csv and pickle; `.blox` quantises as above).

read_file(path) -> (header, Table): the rows as columns (numpy arrays where a column is numeric and of
one length, so the full release of 91,125 networks x 200 epochs fits in about 1 GB), the values equal to
what BLOX's own reader returns for the same file. write_file(path, header, rows) writes what BLOX's
writer writes for the same rows, byte for byte. Every problem with a file is one BlockzooError line.
"""
from __future__ import annotations

import csv
import functools
import hashlib
import io
import pickle
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import yaml

from blockzoo import atomic
from blockzoo.errors import BlockzooError

OPS = ["conv", "mbconv", "bconv"]  # BLOX's search_space.all_ops
NODES, STAGES = 2, 3
FORMATS = {".blox": "custom", ".pickle": "pickle", ".csv": "csv"}
ACCURACY_COLUMNS = ("test_top1", "val_top1", "train_top1", "train_top5", "test_top5", "val_top5")
HEADER_LIMIT = 1024  # BLOX's reader looks for the header's end in the first 1,024 bytes
PICKLE_PROTOCOL = 4


def examples_of(column: str) -> int:
    """The images behind an accuracy column (BLOX's split of CIFAR-100)."""
    return 45000 if "train" in column else (5000 if "val" in column else 10000)


# --- the model hash (BLOX's graph_utils.get_model_graph_np + graph_hash_np) -------------------------------

def model_graph(arch) -> tuple[list[list[int]], list]:
    """BLOX's minimised graph of an arch vector: (adjacency, labels), dangling nodes pruned; ([], []) when
    nothing connects the input to the output."""
    nodes = sum(len(cell) for cell in arch) + 2 + len(arch)
    mat = [[0] * nodes for _ in range(nodes)]
    labels: list = [("input", None)]
    nidx, outputs, all_outputs = 1, [0], {0: [0]}
    for sidx, stage in enumerate(arch):
        stage_outputs = list(outputs)
        for in_cell, node in enumerate(stage):
            op, *cons = node
            prev, inp, sc = cons if in_cell > 0 else (1, 0, cons[0] if cons else 0)
            labels.append((OPS[op], sidx))
            for i in (outputs if prev else []) + (stage_outputs if inp else []):
                mat[i][nidx] = 1
            outputs = [nidx] + (all_outputs[nidx - 1] if sc else [])
            all_outputs[nidx] = outputs
            nidx += 1
        labels.append(("reduction", sidx))
        for o in outputs:
            mat[o][nidx] = 1
        outputs = [nidx]
        all_outputs[nidx] = outputs
        nidx += 1
    labels.append(("output", None))
    for o in outputs:
        mat[o][nidx] = 1
    keep = _reachable(mat, 0, forward=True) & _reachable(mat, nodes - 1, forward=False)
    order = sorted(keep)
    return [[mat[a][b] for b in order] for a in order], [labels[a] for a in order]


def _reachable(mat: list[list[int]], source: int, forward: bool) -> set[int]:
    seen, stack = {source}, [source]
    while stack:
        n = stack.pop()
        for m in range(len(mat)):
            if m not in seen and (mat[n][m] if forward else mat[m][n]):
                seen.add(m)
                stack.append(m)
    return seen


def graph_hash(graph) -> str | None:
    """BLOX's graph_hash_np of (adjacency, labels): Weisfeiler-Lehman over md5, its exact strings."""
    mat, labels = graph
    if not labels:
        return None
    codes = [-1] + [(len(OPS) if op == "reduction" else OPS.index(op)) + (len(OPS) + 1) * sidx
                    for op, sidx in labels[1:-1]] + [-2]
    n = len(mat)
    # BLOX sums a float64 matrix: the degrees print as floats ("(1.0, 0.0, -1)")
    hashes = [_md5(str((float(sum(mat[v])), float(sum(mat[w][v] for w in range(n))), codes[v]))) for v in range(n)]
    ins = [[w for w in range(n) if mat[w][v]] for v in range(n)]
    outs = [[w for w in range(n) if mat[v][w]] for v in range(n)]
    for _ in range(n):
        hashes = [_md5("".join(sorted(hashes[w] for w in ins[v])) + "|" + "".join(sorted(hashes[w] for w in outs[v]))
                       + "|" + hashes[v]) for v in range(n)]
    return _md5(str(sorted(hashes)))


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def model_hash(arch) -> str | None:
    """BLOX's search_space.get_model_hash: the same for every isomorphic arch vector; None for one without an
    output (BLOX's invalid vectors)."""
    from blockzoo.macro import blox

    try:
        key = blox.canonical(arch)  # blockzoo's classes are exactly BLOX's hash classes (docs/blox.md)
    except BlockzooError:
        return _hash_of_nested(_freeze(arch))  # an invalid vector: BLOX's hash of what its graph keeps
    return _canonical_hash(key)


@functools.cache
def _canonical_hash(cells: tuple) -> str | None:
    return graph_hash(model_graph([[[c[0]], [c[1], c[2], c[3], c[4]]] for c in cells]))


def _hash_of_nested(frozen) -> str | None:
    try:
        return graph_hash(model_graph(frozen))
    except (TypeError, ValueError, IndexError, KeyError):
        return None


def _freeze(value):
    return tuple(_freeze(v) for v in value) if isinstance(value, (list, tuple)) else value


# --- tables -----------------------------------------------------------------------------------------------

class Table:
    """The rows of one file as columns: `hashes` (the first column) and one column per other name, each a
    numpy array (numbers, lists of one length), a uint8 array of cell codes (arch) or a list (anything else)."""

    def __init__(self, columns: list[str], hashes: list[str], data: dict[str, object], kinds: dict[str, str]):
        self.columns, self.hashes, self.data, self.kinds = columns, hashes, data, kinds
        self.index = {h: i for i, h in enumerate(hashes)}
        if len(self.index) != len(hashes):
            raise BlockzooError("a BLOX file lists a model hash twice; it is corrupt, download it again")

    def __len__(self) -> int:
        return len(self.hashes)

    def value(self, column: str, i: int):
        data, kind = self.data[column], self.kinds[column]
        if kind == "arch":
            return [_cell(int(code)) for code in data[i]]
        if kind == "array":
            return data[i].item() if data.ndim == 1 else data[i].tolist()
        return data[i]

    def row(self, i: int) -> list:
        """The values of row i after the hash, as BLOX's reader gives them (Python lists, floats, ints)."""
        return [self.value(c, i) for c in self.columns[1:]]

    def rows(self) -> list[list]:
        return [[h, *self.row(i)] for i, h in enumerate(self.hashes)]

    def take(self, order: Sequence[int]) -> "Table":
        order = np.asarray(order, dtype=np.int64)
        data = {c: (v[order] if isinstance(v, np.ndarray) else [v[i] for i in order]) for c, v in self.data.items()}
        return Table(self.columns, [self.hashes[i] for i in order], data, self.kinds)


def _cell(code: int) -> list:
    return [[(code >> 3) // 3], [(code >> 3) % 3, (code >> 2) & 1, (code >> 1) & 1, code & 1]]


def _cell_code(cell) -> int:
    (op1,), (op2, prev, inp, sc) = cell
    return ((op1 * 3 + op2) << 3) | (int(prev) << 2) | (int(inp) << 1) | int(sc)


def table_from_rows(columns: list[str], rows: list, where: str) -> Table:
    """Columns from a list of rows (pickle and csv)."""
    if not isinstance(rows, list) or not all(isinstance(r, (list, tuple)) and len(r) == len(columns) for r in rows):
        raise BlockzooError(f"{where}: its rows do not have the {len(columns)} columns its header names; the file "
                            "is corrupt or not BLOX's, download it again")
    hashes = [r[0] for r in rows]
    if not all(isinstance(h, str) for h in hashes):
        raise BlockzooError(f"{where}: its first column is not a model hash; the file is not BLOX's")
    data, kinds = {}, {}
    for j, column in enumerate(columns[1:], 1):
        values = [r[j] for r in rows]
        data[column], kinds[column] = _as_column(column, values)
    return Table(columns, hashes, data, kinds)


def _as_column(column: str, values: list) -> tuple[object, str]:
    if column == "arch_vec" and values:
        try:
            return np.array([[_cell_code(c) for c in a] for a in values], dtype=np.uint8).reshape(len(values), -1), \
                "arch"
        except (TypeError, ValueError):
            return values, "list"
    first = values[0] if values else None
    for kind in (float, int):
        if values and all(type(v) is kind for v in values):
            return np.array(values, dtype=np.float64 if kind is float else np.int64), "array"
        if (values and all(isinstance(v, list) for v in values) and len({len(v) for v in values}) == 1
                and first and all(type(x) is kind for v in values for x in v)):
            return np.array(values, dtype=np.float64 if kind is float else np.int64), "array"
    return values, "list"


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
    cells = list(csv.reader(io.StringIO(text, newline="")))
    if not all(len(r) == len(columns) for r in cells):
        bad = next(i for i, r in enumerate(cells) if len(r) != len(columns))
        raise BlockzooError(f"{path}: row {bad + 1} has {len(cells[bad])} values, its header names {len(columns)} "
                            "columns; the file is corrupt or truncated")
    hashes = [r[0] for r in cells]
    data, kinds = {}, {}
    for j, column in enumerate(columns[1:], 1):
        values = [r[j] for r in cells]
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
    """'[1.5, 2.0]' cells as one float64 array (rows x length) when of one length, else lists; float() of each."""
    if not values:
        return np.zeros((0, 0))
    inner = [v[1:-1] for v in values]
    lengths = {v.count(",") + 1 for v in inner}
    if len(lengths) == 1:
        flat = np.array(",".join(inner).split(","), dtype=np.float64)  # numpy's parse: correctly rounded, as float()
        return flat.reshape(len(values), lengths.pop())
    return [[float(x) for x in v.split(",")] for v in inner]


# --- the custom (.blox) format ----------------------------------------------------------------------------

def _field_kind(dtype: str, column: str) -> tuple:
    """(kind, is_list, bits, offset, examples) of a column type of the header."""
    is_list = dtype.startswith("list[")
    base = dtype[5:-1] if is_list else dtype
    if base.startswith("b_"):
        parts = base.split("_")
        return "q", is_list, int(parts[3]), int(parts[1]), examples_of(column)
    if base not in ("hash", "str", "float", "arch", "int"):
        raise ValueError(f"unknown column type {dtype!r} of column {column!r}")
    return base, is_list, 0, 0, 0


FIXED_BYTES = {"hash": 16, "float": 3, "arch": 3, "int": 4}


def decode(header: dict, body: bytes, path: Path) -> Table:
    try:
        data = zlib.decompress(body)
    except zlib.error as exc:
        raise BlockzooError(f"{path} is corrupt or truncated (zlib: {exc}); download it again") from None
    if len(data) < 12:
        raise BlockzooError(f"{path} is truncated (no row count); download it again")
    _bits, rows = struct.unpack("<QI", data[:12])
    buf = np.frombuffer(data, dtype=np.uint8, offset=12)
    columns = header["columns"]
    types = header.get("column_types")
    if not isinstance(types, dict) or any(c not in types for c in columns):
        raise BlockzooError(f"{path}: its header lacks column_types for every column; not a BLOX .blox file")
    kinds = [_field_kind(types[c], c) for c in columns]
    layout = _row_layout(kinds, buf, 0)
    size = layout[-1][1] if layout else 0
    fixed = rows == 0 or (size * rows == len(buf) and all(k[0] != "str" for k in kinds))
    if fixed and rows:
        table = buf.reshape(rows, size)
        for (_kind, is_list, *_), (start, _end, length) in zip(kinds, layout, strict=True):
            if is_list and not (table[:, start] == length).all():
                fixed = False  # lists of other lengths in other rows: the row-by-row path
    if not fixed:
        return _decode_rows(columns, kinds, buf, rows, path)
    out, out_kinds, hashes = {}, {}, []
    for column, kind, (start, end, length) in zip(columns, kinds, layout, strict=True):
        block = table[:, start + (1 if kind[1] else 0):end] if rows else np.zeros((0, 0), np.uint8)
        value = _decode_block(kind, block, rows, length)
        if column == columns[0]:
            hashes = value
        else:
            out[column] = value
            out_kinds[column] = "arch" if kind[0] == "arch" and not kind[1] else "array"
    return Table(columns, hashes, out, out_kinds)


def _row_layout(kinds: list[tuple], buf: np.ndarray, pos: int) -> list[tuple[int, int, int]]:
    """(start, end, list length) of each field of the row at `pos`."""
    layout = []
    for kind, is_list, bits, _off, _ex in kinds:
        start = pos
        length = 1
        if is_list:
            if pos >= len(buf):
                raise ValueError("buffer too short")
            length = int(buf[pos])
            pos += 1
        if kind == "q":
            pos += (bits * length + 7) // 8
        elif kind == "str":
            for _ in range(length):
                if pos >= len(buf):
                    raise ValueError("buffer too short")
                pos += 1 + int(buf[pos])
        else:
            pos += FIXED_BYTES[kind] * length
        if pos > len(buf):
            raise ValueError("buffer too short")
        layout.append((start, pos, length))
    return layout


def _le(block: np.ndarray) -> np.ndarray:
    """Little-endian unsigned integers of the bytes of each row (up to 8)."""
    value = np.zeros(block.shape[:-1], dtype=np.uint64)
    for i in range(block.shape[-1]):
        value |= block[..., i].astype(np.uint64) << np.uint64(8 * i)
    return value


def _accuracy(counts: np.ndarray, offset: int, examples: int) -> np.ndarray:
    value = (counts.astype(np.float64) + offset) / examples * 100
    return np.floor(value * 1e3 + 0.5) / 1e3  # C's round() (half away from zero; these are >= 0), as BLOX's reader


def _decode_block(kind: tuple, block: np.ndarray, rows: int, length: int):
    name, is_list, bits, offset, examples = kind
    if name == "hash":
        text = block[:, ::-1].tobytes().hex()
        return [text[32 * i:32 * i + 32] for i in range(rows)]
    if name == "q":
        if not is_list:
            return _accuracy(_le(block), offset, examples)
        padded = np.concatenate([block, np.zeros((rows, 8), np.uint8)], axis=1)
        positions = np.arange(length, dtype=np.int64) * bits
        counts = np.empty((rows, length), dtype=np.uint64)
        for start in range(0, rows, 8192):  # 8 bytes per value at a time: bounded memory
            part = padded[start:start + 8192]
            windows = part[:, (positions // 8)[:, None] + np.arange(8)]
            shifted = _le(windows) >> (positions % 8).astype(np.uint64)
            counts[start:start + 8192] = shifted & np.uint64((1 << bits) - 1)
        return _accuracy(counts, offset, examples)
    width = FIXED_BYTES[name]
    shaped = block.reshape(rows, length if is_list else 1, width)
    if name == "arch":
        return shaped.reshape(rows, -1)
    value = _le(shaped)
    value = value.astype(np.float64) / 1e6 if name == "float" else value.astype(np.int64)
    return value if is_list else value[:, 0]


def _decode_rows(columns: list[str], kinds: list[tuple], buf: np.ndarray, rows: int, path: Path) -> Table:
    """Row by row (files with strings, or lists of other lengths): the same values, slower."""
    raw = buf.tobytes()
    pos, out = 0, []
    for _ in range(rows):
        row = []
        for kind in kinds:
            value, pos = _decode_field(kind, raw, pos)
            row.append(value)
        out.append(row)
    if pos != len(raw):
        raise BlockzooError(f"{path} is corrupt ({len(raw) - pos} bytes after its {rows} rows); download it again")
    return table_from_rows(columns, out, str(path))


def _decode_field(kind: tuple, raw: bytes, pos: int):
    name, is_list, bits, offset, examples = kind
    length = 1
    if is_list:
        length, pos = raw[pos], pos + 1
    if name == "q":
        size = (bits * length + 7) // 8
        if pos + size > len(raw):
            raise ValueError("buffer too short")
        number = int.from_bytes(raw[pos:pos + size], "little")
        values = [float(_accuracy(np.array([(number >> (bits * k)) & ((1 << bits) - 1)]), offset, examples)[0])
                  for k in range(length)]
        return (values if is_list else values[0]), pos + size
    values = []
    for _ in range(length):
        if name == "str":
            size = raw[pos]
            text, pos = raw[pos + 1:pos + 1 + size], pos + 1 + size
            if len(text) != size:
                raise ValueError("buffer too short")
            values.append(text.decode("ascii"))
            continue
        size = FIXED_BYTES[name]
        chunk, pos = raw[pos:pos + size], pos + size
        if len(chunk) != size:
            raise ValueError("buffer too short")
        if name == "hash":
            values.append(chunk[::-1].hex())
        elif name == "float":
            values.append(int.from_bytes(chunk, "little") / 1e6)
        elif name == "int":
            values.append(int.from_bytes(chunk, "little"))
        else:
            values.append([_cell(b) for b in chunk])
    return (values if is_list else values[0]), pos


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


def encode(columns: Sequence[str], rows: list) -> tuple[dict, bytes]:
    """BLOX's io.encode: (column_types, zlib body), the fields of each row byte-aligned."""
    types, blocks, bits = {}, [], 32
    for j, column in enumerate(columns):
        values = [row[j] for row in rows]
        dtype, block, field_bits = _encode_column(column, values)
        types[column] = dtype
        blocks.append(block)
        bits += sum(b + b % 8 for b in field_bits)  # BLOX's pad_write adds the bits of the last byte used, again
    if all(isinstance(b, np.ndarray) for b in blocks):
        body = np.concatenate(blocks, axis=1).tobytes()
    else:
        parts = [b if isinstance(b, list) else [bytes(r) for r in b] for b in blocks]
        body = b"".join(b"".join(row) for row in zip(*parts, strict=True))
    return types, zlib.compress(struct.pack("<QI", bits, len(rows)) + body)


def _encode_column(column: str, values: list) -> tuple[str, object, list[int]]:
    """(dtype, bytes per row: an array (rows x n) or a list, bits written per row)."""
    n = len(values)
    first = values[0]
    if column == "model_hash":
        block = np.frombuffer(b"".join(int(h, 16).to_bytes(16, "little") for h in values), np.uint8).reshape(n, 16)
        return "hash", block, [128] * n
    if column == "arch_vec":
        block = np.array([[_cell_code(c) for c in a] for a in values], dtype=np.uint8)
        return "arch", block, [24] * n
    is_list = isinstance(first, list)
    if column in ACCURACY_COLUMNS:
        return _encode_accuracy(column, values, is_list)
    name = type(first[0] if is_list else first).__name__
    dtype = f"list[{name}]" if is_list else name
    if is_list:
        encoded = [_encode_items(name, v, column) for v in values]
        rows = [bytes([len(v)]) + b for v, (b, _) in zip(values, encoded, strict=True)]
        return dtype, _maybe_array(rows), [8 + bits for _b, bits in encoded]
    encoded = [_encode_items(name, [v], column) for v in values]
    return dtype, _maybe_array([b for b, _ in encoded]), [bits for _b, bits in encoded]


def _maybe_array(rows: list[bytes]):
    if len({len(r) for r in rows}) == 1:
        return np.frombuffer(b"".join(rows), np.uint8).reshape(len(rows), -1)
    return rows


def _encode_items(name: str, items: list, column: str) -> tuple[bytes, int]:
    if name == "str":
        out = b"".join(bytes([len(s)]) + s.encode("ascii") for s in items)
        return out, 8 * len(out)
    if name == "int":
        return b"".join(struct.pack("<I", v) for v in items), 32 * len(items)
    if name == "float":
        micro = _micro(np.asarray(items, dtype=np.float64), items)
        if len(micro) and (micro.min() < 0 or micro.max() >= 1 << 24):
            raise BlockzooError(f"column {column}: BLOX's .blox stores floats from 0 to 16.777215 (24 bits x 1e-6); "
                                f"{max(items)} does not fit")
        return micro.astype("<u4").view(np.uint8).reshape(-1, 4)[:, :3].tobytes(), 24 * len(items)
    raise BlockzooError(f"column {column}: BLOX's .blox format has no type {name!r} (str, int, float, lists)")


def _micro(values: np.ndarray, items: list) -> np.ndarray:
    """BLOX's int(round(f, 6) * 1e6), corrected until v / 1e6 == round(f, 6): Python's decimal rounding to 6
    places (numpy's rint where that is unambiguous, Python's round where f * 1e6 is near a half)."""
    scaled = values * 1e6
    micro = np.rint(scaled)
    near = np.nonzero(np.abs(np.abs(scaled - np.floor(scaled)) - 0.5) < 1e-6)[0]
    for i in near:
        f_ref = round(float(items[i]), 6)
        v = int(round(float(items[i]), 6) * 1e6)
        for candidate in (v, v + 1, v - 1):
            if candidate / 1e6 == f_ref:
                micro[i] = candidate
                break
    return micro.astype(np.int64)


def _encode_accuracy(column: str, values: list, is_list: bool) -> tuple[str, object, list[int]]:
    examples = examples_of(column)
    data = np.asarray(values, dtype=np.float64)
    # BLOX: round(f * examples) // 100, the same count for the unrounded percentages BLOX's writer gets; the
    # nearest count also recovers it from percentages rounded to 3 decimals (as read back from any BLOX file).
    correct = np.round(data * examples / 100).astype(np.int64)
    if not np.allclose(correct / examples * 100, data, rtol=0, atol=6e-4):
        raise BlockzooError(f"column {column}: its values are not whole numbers of correct images out of {examples} "
                            "(in percent), which BLOX's .blox format stores")
    low, high = int(correct.min()), int(correct.max())
    # BLOX: ceil(log2(high - low)), which is this except where high - low is a power of two (or 0, 1): there
    # BLOX's writer fails and this writes the bits the largest value needs.
    bits = (high - low).bit_length()
    if "test" in column and bits % 8:
        bits += 8 - bits % 8
    dtype = f"b_{low}_{high}_{bits}"
    counts = (correct - low).astype(np.uint64)
    if not is_list:
        size = bits // 8
        block = counts.astype("<u8").view(np.uint8).reshape(-1, 8)[:, :size]
        return dtype, np.ascontiguousarray(block), [bits] * len(values)
    length = counts.shape[1]
    nbytes = (bits * length + 7) // 8
    bitmat = ((counts[:, :, None] >> np.arange(bits, dtype=np.uint64)) & np.uint64(1)).astype(np.uint8)
    packed = np.packbits(bitmat.reshape(len(values), -1), axis=1, bitorder="little")[:, :nbytes]
    block = np.concatenate([np.full((len(values), 1), length, np.uint8), packed], axis=1)
    return f"list[{dtype}]", block, [8 + bits * length] * len(values)


__all__ = ["Table", "decode", "encode", "graph_hash", "make_header", "model_graph", "model_hash", "read_file",
           "round_floats", "search_space_header", "write_file"]
