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

This module holds the names BLOX's users import, and from_folder's choice of files; the classes live in
bloxdataset (Dataset) and bloxparts (the parts it attaches), the files' formats in bloxio, the hash in bloxhash.
"""
from __future__ import annotations

import collections.abc as cabc
import pathlib
import re

from blockzoo.macro import bloxio
from blockzoo.macro.bloxdataset import Dataset
from blockzoo.macro.bloxhash import model_graph, model_hash
from blockzoo.macro.bloxparts import BenchmarkingDataset, BloxError, EnvInfoDataset, StaticInfoDataset

preferred_ext = None  # as BLOX's blox.dataset.preferred_ext: the default order of from_folder


def get_model_hash(arch_vec, ops=None, minimize=True) -> str | None:
    """BLOX's search_space.get_model_hash."""
    del ops, minimize
    return model_hash(arch_vec)


def get_model_graph(arch_vec, ops=None, minimize=True, keep_dims=False):
    """BLOX's graph_utils.get_model_graph: ((adjacency, labels), None), the graph minimised."""
    del ops, minimize, keep_dims
    return model_graph(arch_vec), None


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


__all__ = ["BenchmarkingDataset", "BloxError", "Dataset", "EnvInfoDataset", "StaticInfoDataset", "find_files",
           "from_folder", "get_model_graph", "get_model_hash", "preferred_ext"]
