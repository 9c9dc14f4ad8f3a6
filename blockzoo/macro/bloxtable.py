"""The rows of one BLOX file as columns (Table), and the one-byte code of a BLOX cell in BLOX's files.

A Table keeps each column as a numpy array where it is numeric and of one length, so that BLOX's full
release (91,125 networks x 200 epochs) fits in about 1 GB, and gives each value back as BLOX's reader does.
A BLOX cell [[op1], [op2, prev, input, sc]] is stored as one byte: (op1 * 3 + op2) << 3 | prev << 2 |
input << 1 | sc.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from blockzoo.errors import BlockzooError


class Table:
    """The rows of one file as columns: `hashes` (the first column) and one column per other name, each a
    numpy array (numbers, lists of one length), a uint8 array of BLOX cell codes (arch) or a list (anything else)."""

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
            return [blox_cell_of_code(int(code)) for code in data[i]]
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


def blox_cell_of_code(code: int) -> list:
    """The BLOX cell [[op1], [op2, prev, input, sc]] of its byte in BLOX's files."""
    op1, op2, prev, inp, sc = flat_blox_cell_of_code(code)
    return [[op1], [op2, prev, inp, sc]]


def flat_blox_cell_of_code(code: int) -> tuple[int, int, int, int, int]:
    """(op1, op2, prev, input, sc) of a BLOX cell's byte in BLOX's files (blox.py's form, not canonical)."""
    return (code >> 3) // 3, (code >> 3) % 3, (code >> 2) & 1, (code >> 1) & 1, code & 1


def blox_cell_code(blox_cell) -> int:
    """The byte of a BLOX cell [[op1], [op2, prev, input, sc]] in BLOX's files."""
    (op1,), (op2, prev, inp, sc) = blox_cell
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
            codes = np.array([[blox_cell_code(c) for c in a] for a in values], dtype=np.uint8)
            return codes.reshape(len(values), -1), "arch"
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


__all__ = ["Table", "blox_cell_code", "blox_cell_of_code", "flat_blox_cell_of_code", "table_from_rows"]
