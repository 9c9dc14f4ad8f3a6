"""BLOX's custom format (the `.blox` files) after the YAML header: decoded to a Table, encoded from rows.

The body is zlib of (u64 bit count, u32 rows, rows), each field byte-aligned; the header's column_types
give each field's layout: hash (16 bytes LE), str (1 length byte + ASCII), float (3 bytes LE, x 1e-6), int
(u32 LE), arch (one byte per BLOX cell, bloxtable), b_<min>_<max>_<bits> (an accuracy as the number of
correct images minus min, in `bits` bits; 45,000 images for train, 5,000 val, 10,000 test), list[T] (1 length
byte, then the items; the quantised items packed LSB first without padding). Files whose rows are all of
one length are decoded as numpy blocks; others row by row, to the same values.
"""
from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from blockzoo.errors import BlockzooError
from blockzoo.macro.bloxtable import Table, blox_cell_code, blox_cell_of_code, table_from_rows

FIXED_BYTES = {"hash": 16, "float": 3, "arch": 3, "int": 4}  # a field's size, by type
ACCURACY_COLUMNS = ("test_top1", "val_top1", "train_top1", "train_top5", "test_top5", "val_top5")


def examples_of(column: str) -> int:
    """The images behind an accuracy column (BLOX's split of CIFAR-100)."""
    return 45000 if "train" in column else (5000 if "val" in column else 10000)


# --- decoding ---------------------------------------------------------------------------------------------

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
            values.append([blox_cell_of_code(b) for b in chunk])
    return (values if is_list else values[0]), pos


# --- encoding ---------------------------------------------------------------------------------------------

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
        block = np.array([[blox_cell_code(c) for c in a] for a in values], dtype=np.uint8)
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


__all__ = ["decode", "encode", "examples_of"]
