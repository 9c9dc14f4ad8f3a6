"""BLOX's query API, exactly: a script written against `blox` runs with only its import changed.

    import blockzoo.macro.blox_api as blox

    d = blox.from_folder("release")          # BLOX's files: blox-base-0.blox / .pickle / .csv, ...
    arch_vec = [[[0], [1, 1, 1, 1]], [[1], [1, 1, 0, 0]], [[0], [0, 1, 1, 0]]]
    info = d.full_info(arch_vec)             # a dict: BLOX's columns, model_hash, seed (info, env when loaded)
    val_acc = d.val_acc(arch_vec)            # percent; the best up to `epoch` (1-based count) when best
    test_acc = d.test_acc(arch_vec)

The semantics are those of BLOX's blox/dataset.py: accuracy in percent with 3 decimals, one seed per
query (the one asked for, else one drawn with Python's `random`, as BLOX does), `epoch` a number of
epochs, None for an architecture the dataset lacks, arch_vec() the vector that was trained, the loss and
top-5 getters of the extended dataset, train_time(arch, epoch) interpolated, latency(arch, devices),
full_info_by_graph, __getitem__ and iteration. blockzoo's own MacroDataset (blockzoo.macro.dataset)
answers in blockzoo's terms instead: means over seeds, accuracy 0..1, Pareto fronts and budgets.

Where BLOX's code fails, this view does what BLOX's docstrings say (docs/blox.md lists each case): a
missing architecture gives None from every getter (BLOX raises a TypeError from params(), flops(),
arch_vec(), and from full_info() when static or environment information is attached); blox-info is read
in every format (BLOX's from_folder reads blox-info.pickle only); nothing is printed (BLOX's from_folder
prints the list of files it loads). Errors are one line (BloxError, a ValueError like BLOX's).
"""
from __future__ import annotations

import collections.abc as cabc
import functools
import pathlib
import random
import re

from blockzoo.errors import BlockzooError
from blockzoo.macro import bloxio
from blockzoo.macro.bloxio import graph_hash, model_graph

preferred_ext = None  # as BLOX's blox.dataset.preferred_ext: the default order of from_folder


class BloxError(BlockzooError, ValueError):
    """One line, and a ValueError as BLOX's own errors are, so `except ValueError` still catches it."""


def get_model_hash(arch_vec, ops=None, minimize=True) -> str | None:
    """BLOX's search_space.get_model_hash."""
    del ops, minimize
    return bloxio.model_hash(arch_vec)


def get_model_graph(arch_vec, ops=None, minimize=True, keep_dims=False):
    """BLOX's graph_utils.get_model_graph: ((adjacency, labels), None), the graph minimised."""
    del ops, minimize, keep_dims
    return model_graph(arch_vec), None


class _Dataset:
    """BLOX's _Dataset: files of one kind, each a Table keyed by model hash."""

    def __init__(self, dataset_files, validate_data: bool, db_type: str):
        if isinstance(dataset_files, (str, pathlib.Path)):
            dataset_files = [dataset_files]
        self.dbs: list[bloxio.Table] = []
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
                merged = bloxio.Table(current_columns, base.hashes, {**base.data, **table.data},
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

    def _row(self, db: bloxio.Table, model_hash):
        i = db.index.get(model_hash)
        return None if i is None else db.row(i)

    def __contains__(self, arch) -> bool:
        return get_model_hash(arch) in self.dbs[0].index

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
        r = self._get(get_model_hash(arch), False)
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
        return self._get(get_model_hash(arch), devices, return_dict)


def _extended(method):
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if not self.is_extended:
            raise BloxError("this information requires the extended training dataset: "
                            "from_folder(..., extended=True) and the blox-ext-<seed> files")
        return method(self, *args, **kwargs)

    return wrapper


class Dataset(_Dataset):
    """BLOX's Dataset: training files (base, and ext when extended), with optional benchmarking, static and
    environment information."""

    def __init__(self, dataset_files, devices_files=None, static_info=None, env_info=None, validate_data=True):
        super().__init__(dataset_files, validate_data, "training")
        self.bench_info = BenchmarkingDataset(devices_files, validate_data=validate_data) if devices_files else None
        self.static_info = StaticInfoDataset(static_info) if static_info else None
        self.env_info = EnvInfoDataset(env_info) if env_info else None

    epochs = property(lambda self: self.header["epochs"])
    dataset = property(lambda self: self.header["dataset"])
    is_extended = property(lambda self: self.has_extension)

    def _seed_index(self, seed):
        if seed is None:
            return random.randrange(len(self.seeds))
        if seed not in self.seeds:
            raise BloxError(f"seed {seed!r} is not in this dataset; its seeds are {self.seeds}")
        return self.seeds.index(seed)

    def _query(self, model_hash, seed, devices, include_static_info, include_env_info, return_dict):
        seed_idx = self._seed_index(seed)
        raw = self._row(self.dbs[seed_idx], model_hash)
        if raw is None:
            return None
        if return_dict:
            ret = dict(zip(self.columns[1:], raw, strict=True))
            ret[self.columns[0]] = model_hash
            ret["seed"] = self.seeds[seed_idx]
        else:
            ret = [model_hash, *raw, self.seeds[seed_idx]]
        if devices is not False and (devices is not None or self.bench_info):
            if not self.bench_info:
                raise BloxError("no benchmarking information attached (blox-bench-<device> files)")
            lat = self.bench_info._get(model_hash, devices, return_dict)
            ret.update(lat) if return_dict else ret.extend(lat)
        if include_static_info is not False and (include_static_info is not None or self.static_info):
            if not self.static_info:
                raise BloxError("no static information attached: from_folder(..., include_static_info=True) and "
                                "the blox-info file")
            info = self.static_info._get(model_hash, return_dict)
            if return_dict:
                ret["info"] = info
            else:
                ret.append(info)
        if include_env_info is not False and (include_env_info is not None or self.env_info):
            if not self.env_info:
                raise BloxError("no environment information attached: from_folder(..., include_env_info=True) and "
                                "the blox-env-<seed> files")
            info = self.env_info._get(model_hash, self.seeds[seed_idx], return_dict)
            if return_dict:
                ret["env"] = info
            else:
                ret.append(info)
        return ret

    def full_info(self, arch, seed=None, devices=None, include_static_info=None, include_env_info=None,
                  return_dict=True):
        """Everything about `arch` for one seed (random if not given): a dict of BLOX's columns, model_hash and
        seed, plus per device latency, `info` (static) and `env` when attached; a list when not return_dict;
        None if the dataset lacks `arch`."""
        return self._query(get_model_hash(arch), seed, devices, include_static_info, include_env_info, return_dict)

    def full_info_by_graph(self, graph, seed=None, devices=None, include_static_info=None, include_env_info=None,
                           return_dict=True):
        """full_info() of the architecture of `graph`, the first element of get_model_graph(arch)."""
        return self._query(graph_hash(graph), seed, devices, include_static_info, include_env_info, return_dict)

    def _info(self, arch, seed):
        return self.full_info(arch, seed=seed, devices=False, include_static_info=False, include_env_info=False,
                              return_dict=False)

    def _curve(self, arch, index, epoch, best, seed, pick):
        info = self._info(arch, seed)
        if info is None:
            return None
        values = info[index]
        if epoch is None:
            epoch = len(values)
        return pick(values[:epoch]) if best else values[epoch - 1]

    def test_acc(self, arch, seed=None):
        """Test top-1 (percent) of the best-validation epoch; None if the dataset lacks `arch`."""
        info = self._info(arch, seed)
        return None if info is None else info[2]

    def val_acc(self, arch, epoch=None, best=True, seed=None):
        """Validation top-1 (percent): max(vals[:epoch]) if best else vals[epoch - 1] (epoch: a count)."""
        return self._curve(arch, 1, epoch, best, seed, max)

    def train_time(self, arch, epoch=None, seed=None):
        """Training time in seconds; for `epoch` epochs, interpolated linearly."""
        info = self._info(arch, seed)
        if info is None:
            return None
        return info[3] if epoch is None else info[3] * (epoch / self.epochs)

    @_extended
    def train_acc(self, arch, epoch=None, best=True, seed=None):
        return self._curve(arch, 4, epoch, best, seed, max)

    @_extended
    def train_loss(self, arch, epoch=None, best=False, seed=None):
        return self._curve(arch, 5, epoch, best, seed, min)

    @_extended
    def train_top5(self, arch, epoch=None, best=True, seed=None):
        return self._curve(arch, 6, epoch, best, seed, max)

    @_extended
    def val_loss(self, arch, epoch=None, best=False, seed=None):
        return self._curve(arch, 7, epoch, best, seed, min)

    @_extended
    def val_top5(self, arch, epoch=None, best=True, seed=None):
        return self._curve(arch, 8, epoch, best, seed, max)

    @_extended
    def test_loss(self, arch, seed=None):
        info = self._info(arch, seed)
        return None if info is None else info[9]

    @_extended
    def test_top5(self, arch, seed=None):
        info = self._info(arch, seed)
        return None if info is None else info[10]

    def latency(self, *args, **kwargs):
        if not self.bench_info:
            raise BloxError("no benchmarking information attached (blox-bench-<device> files)")
        return self.bench_info.latency(*args, **kwargs)

    def _static(self, name, *args, **kwargs):
        if not self.static_info:
            raise BloxError("no static information attached: from_folder(..., include_static_info=True) and the "
                            "blox-info file")
        return getattr(self.static_info, name)(*args, **kwargs)

    def params(self, *args, **kwargs):
        return self._static("params", *args, **kwargs)

    def flops(self, *args, **kwargs):
        return self._static("flops", *args, **kwargs)

    def arch_vec(self, *args, **kwargs):
        return self._static("arch_vec", *args, **kwargs)

    def __iter__(self):
        for k in self.dbs[0].hashes:
            yield self[k]

    def __getitem__(self, k):
        """[model_hash, training rows per seed, static row, benchmarking rows per device, env rows per seed]."""
        if k not in self.dbs[0].index:
            raise KeyError(k)
        return [k] + [None if not part else [db.row(db.index[k]) for db in part.dbs]
                      for part in (self, self.static_info, self.bench_info, self.env_info)]


def _pattern(values, default: str) -> str:
    if values is None:
        return default
    if isinstance(values, cabc.Sequence) and not isinstance(values, str):
        return "(" + "|".join(re.escape(str(v)) for v in values) + ")"
    return re.escape(str(values))


def find_files(folder, extended=False, seeds=None, devices=None, include_static_info=False, include_env_info=False,
               preferred_ext=None) -> tuple[list, list, str | None, list]:
    """The files from_folder reads: (training files, benchmarking files, static file, env files), by BLOX's
    names and preferred_ext (each file from the first extension in that order that has it)."""
    if preferred_ext is None:
        preferred_ext = globals().get("preferred_ext") or [".blox", ".pickle", ".csv"]
    if isinstance(preferred_ext, str):
        preferred_ext = [preferred_ext]
    preferred_ext = [e if e.startswith(".") else "." + e for e in preferred_ext]
    unknown = [e for e in preferred_ext if e not in bloxio.FORMATS]
    if unknown or not preferred_ext:
        raise BloxError(f"preferred_ext {preferred_ext!r}: give some of .blox, .pickle, .csv")
    f = pathlib.Path(folder).expanduser()
    if not f.is_dir():
        raise BloxError(f"{folder} is not a directory; give the folder of BLOX's release files")
    seeds_re, devices_re = _pattern(seeds, "[0-9]+"), _pattern(devices, "[a-zA-Z0-9-]+")
    files = sorted(p for p in f.iterdir() if p.is_file())
    wanted = [("base", f"blox-base-{seeds_re}", True), ("ext", f"blox-ext-{seeds_re}", extended),
              ("bench", f"blox-bench-{devices_re}", devices is not False), ("info", "blox-info", include_static_info),
              ("env", f"blox-env-{seeds_re}", include_env_info)]
    found: dict[str, list] = {kind: [] for kind, _, _ in wanted}
    taken = set()
    for ext in preferred_ext:
        for p in files:
            stem = p.with_suffix("").name
            if stem in taken or p.suffix != ext:
                continue
            for kind, pattern, on in wanted:
                if on and re.fullmatch(pattern, stem):
                    found[kind].append(str(p))
                    taken.add(stem)
    if not found["base"]:
        present = sorted({p.name for p in files if p.suffix in bloxio.FORMATS})
        raise BloxError(f"{folder} has no BLOX training file (blox-base-<seed> as {', '.join(preferred_ext)}); "
                        + (f"it has: {', '.join(present[:6])}" if present else "it has no .blox, .pickle or .csv file"))
    for kind, flag, name, option in (("ext", extended, "blox-ext-<seed>", "extended"),
                                     ("info", include_static_info, "blox-info", "include_static_info"),
                                     ("env", include_env_info, "blox-env-<seed>", "include_env_info")):
        if flag and not found[kind]:
            raise BloxError(f"{folder} has no {name} file (as {', '.join(preferred_ext)}), which {option}=True "
                            "asks for")
    bases = sorted(found["base"], key=_seed_order) + sorted(found["ext"], key=_seed_order)
    return bases, found["bench"], (found["info"][0] if found["info"] else None), sorted(found["env"], key=_seed_order)


def _seed_order(path: str):
    tail = pathlib.Path(path).with_suffix("").name.rsplit("-", 1)[-1]
    return (0, int(tail)) if tail.isdigit() else (1, tail)


def from_folder(folder, extended=False, seeds=None, devices=None, include_static_info=False, include_env_info=False,
                validate_data=True, preferred_ext=None) -> Dataset:
    """BLOX's from_folder: a Dataset of the release files in `folder` (blox-base-<seed>, and blox-ext-<seed> when
    extended, blox-bench-<device> unless devices is False, blox-info and blox-env-<seed> when asked for), each
    from the first of preferred_ext (default .blox, .pickle, .csv) that the folder has."""
    training, bench, static, env = find_files(folder, extended, seeds, devices, include_static_info,
                                              include_env_info, preferred_ext)
    return Dataset(training, bench, static, env, validate_data=validate_data)
