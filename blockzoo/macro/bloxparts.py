"""The parts of a BLOX dataset as BLOX's blox/dataset.py has them: _Dataset (files of one kind, each a Table
keyed by model hash, checked to hold one release's data), and the parts a training Dataset attaches:
StaticInfoDataset (blox-info), EnvInfoDataset (blox-env-<seed>), BenchmarkingDataset (blox-bench-<device>).
Users reach them through blockzoo.macro.blox_api, BLOX's API.
"""
from __future__ import annotations

import pathlib

from blockzoo.errors import BlockzooError
from blockzoo.macro import bloxhash, bloxio
from blockzoo.macro.bloxtable import Table


class BloxError(BlockzooError, ValueError):
    """One line, and a ValueError as BLOX's own errors are, so `except ValueError` still catches it."""


class _Dataset:
    """BLOX's _Dataset: files of one kind, each a Table keyed by model hash."""

    def __init__(self, dataset_files, validate_data: bool, db_type: str):
        if isinstance(dataset_files, (str, pathlib.Path)):
            dataset_files = [dataset_files]
        self.dbs: list[Table] = []
        self.header = None
        self.seeds, self.devices, exts = [], [], []
        self.has_extension = False
        current_columns = None
        ext_offset = None
        for db_file in dataset_files:
            header, table = bloxio.read_file(db_file)
            header = dict(header)
            if header.pop("format") == "custom":
                header.pop("column_types", None)
            if header.get("dataset_type") != db_type:
                raise BloxError(f"{db_file} holds {header.get('dataset_type')} information, expected {db_type} "
                                "(BLOX's file names: blox-info, blox-base-N, blox-ext-N, blox-env-N, blox-bench-D)")
            cols = header.pop("columns")
            seed = header.pop("seed", None) if db_type in ("training", "env") else None
            part = header.pop("part", None) if db_type == "training" else None
            device = header.pop("device", None) if db_type == "benchmarking" else None
            if db_type == "training" and part not in ("base", "ext"):
                raise BloxError(f"{db_file}: unknown part {part!r} of a training file (base or ext)")
            if part == "ext" and seed not in self.seeds:
                raise BloxError(f"{db_file}: the extension of seed {seed} comes without its blox-base-{seed} file")
            if self.header is None:
                self.header, current_columns = header, list(cols)
            if part == "ext" and ext_offset is None:
                ext_offset = len(current_columns)
                current_columns.extend(cols[1:])
            start, end = (ext_offset, None) if part == "ext" else (1, ext_offset if part == "base" else None)
            if self.header != header or cols[0] != current_columns[0] or cols[1:] != current_columns[start:end]:
                raise BloxError(f"{db_file} holds data of other settings than the files read before it "
                                "(another header or other columns); give one release's files")
            _check_columns(db_type, part, cols, db_file)
            if part == "ext":
                base = self.dbs[self.seeds.index(seed)]
                if set(table.index) != set(base.index):
                    raise BloxError(f"{db_file} lists other models than blox-base-{seed}; give one release's files")
                table = table.take([table.index[h] for h in base.hashes])
                merged = Table(current_columns, base.hashes, {**base.data, **table.data},
                                      {**base.kinds, **table.kinds})
                self.dbs[self.seeds.index(seed)] = merged
                exts[self.seeds.index(seed)] = True
                continue
            if db_type == "training":
                if seed in self.seeds:
                    raise BloxError(f"{db_file}: seed {seed} twice; give one file per seed")
                self.seeds.append(seed)
                exts.append(False)
            elif db_type == "env":
                self.seeds.append(seed)
            elif db_type == "benchmarking":
                self.devices.append(device)
            self.dbs.append(table)
        if not self.dbs:
            raise BloxError("at least one dataset file should be read")
        self.header["columns"] = current_columns
        if db_type == "training":
            self.has_extension = all(exts)
            if validate_data and len(self.dbs) > 1 and any(exts) and not all(exts):
                raise BloxError("inconsistent extensions: some seeds have blox-ext files, others not")
        if validate_data:
            for i, db in enumerate(self.dbs[1:], 1):
                if set(db.index) != set(self.dbs[0].index):
                    raise BloxError(f"dataset file at position {i} has {len(db)} entries, other models than the one at "
                                    f"position 0 ({len(self.dbs[0])})")

    version = property(lambda self: self.header["version"])
    search_space = property(lambda self: self.header["search_space"]["shape"])
    ops = property(lambda self: self.header["search_space"]["ops"])
    nodes = property(lambda self: self.header["search_space"]["nodes"])
    stages = property(lambda self: self.header["search_space"]["stages"])
    columns = property(lambda self: self.header["columns"])

    def _row(self, db: Table, model_hash):
        i = db.index.get(model_hash)
        return None if i is None else db.row(i)

    def __contains__(self, arch) -> bool:
        return bloxhash.model_hash(arch) in self.dbs[0].index

    def __len__(self) -> int:
        return len(self.dbs[0])

    def __iter__(self):
        db = self.dbs[0]
        for i, h in enumerate(db.hashes):
            yield (h, *db.row(i))


def _check_columns(db_type: str, part: str | None, cols: list, db_file) -> None:
    expected = {("training", "base"): ["model_hash", "val_top1", "test_top1", "train_time_s"],
                ("training", "ext"): ["model_hash", "train_top1", "train_loss", "train_top5", "val_loss", "val_top5",
                                      "test_loss", "test_top5"],
                ("benchmarking", None): ["model_hash", "latency"],
                ("static", None): ["model_hash", "params", "flops", "arch_vec"]}.get((db_type, part))
    if expected and cols[:len(expected)] != expected:
        raise BloxError(f"{db_file}: its columns are {cols}; BLOX's {db_type} files start with {expected}")


class StaticInfoDataset(_Dataset):
    def __init__(self, dataset_file):
        super().__init__([dataset_file], False, "static")

    def _get(self, model_hash, return_dict):
        r = self._row(self.dbs[0], model_hash)
        if return_dict and r is not None:
            return dict(zip(self.columns[1:], r, strict=True))
        return r

    def _column(self, arch, index):
        r = self._get(bloxhash.model_hash(arch), False)
        return None if r is None else r[index]

    def params(self, arch):
        """The number of parameters of `arch`; None if the dataset lacks it."""
        return self._column(arch, 0)

    def flops(self, arch):
        """BLOX's FLOPs (ptflops multiply-accumulates) of `arch`; None if the dataset lacks it."""
        return self._column(arch, 1)

    def arch_vec(self, arch):
        """The arch vector that was trained for `arch` (an isomorphic one, maybe not `arch` itself)."""
        return self._column(arch, 2)


class EnvInfoDataset(_Dataset):
    def __init__(self, dataset_files):
        super().__init__(dataset_files, False, "env")

    def _get(self, model_hash, seed, return_dict):
        r = self._row(self.dbs[self.seeds.index(seed)], model_hash)
        if return_dict and r is not None:
            return dict(zip(self.columns[1:], r, strict=True))
        return r


class BenchmarkingDataset(_Dataset):
    def __init__(self, dataset_files, validate_data=True):
        super().__init__(dataset_files, validate_data, "benchmarking")

    def _get(self, model_hash, devices, ret_dict):
        if devices is None:
            devices, indices = self.devices, list(range(len(self.devices)))
        else:
            if isinstance(devices, str):
                devices = [devices]
            unknown = [d for d in devices if d not in self.devices]
            if unknown:
                raise BloxError(f"no benchmarking information for device {unknown[0]!r}; there is: "
                                f"{', '.join(map(str, self.devices))}")
            indices = [self.devices.index(d) for d in devices]
        raw = {} if ret_dict else []
        for didx, device_name in zip(indices, devices, strict=True):
            value = self._row(self.dbs[didx], model_hash)
            if value is None:
                return None
            if ret_dict:
                raw[device_name] = dict(zip(self.columns[1:], value, strict=True))
            else:
                raw.append(value)
        return raw

    def latency(self, arch, devices=None, return_dict=False):
        """Benchmarking information of `arch` on `devices` (a name, a list, or None: every device)."""
        return self._get(bloxhash.model_hash(arch), devices, return_dict)


