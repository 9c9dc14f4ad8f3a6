"""BLOX release folders: written from blockzoo's macro results (so tools written for BLOX read blockzoo's runs),
and generated at any size for tests and timing.

    write_release(folder, parts)          blox-info, blox-base-<seed>, blox-ext-<seed>, blox-env-<seed>, each as
                                          .blox, .pickle and .csv, as BLOX's tools/make_datasets.py writes them
    export(dataset, folder)               a MacroDataset's BLOX architectures as such a folder
    synthetic(n, epochs, seed)            the rows of a made-up release of n networks (plausible values, BLOX's
                                          quantisation), for tests and scripts/bench_blox_load.py
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from blockzoo.errors import BlockzooError
from blockzoo.macro import blox, bloxhash, bloxio
from blockzoo.macro.bloxtable import flat_blox_cell_of_code

PARTS = ("info", "base", "ext", "env")


def part_name(part: str, seed: int) -> str:
    return "blox-info" if part == "info" else f"blox-{part}-{seed}"


def part_header(part: str, seed: int, epochs: int, dataset: str, env_keys: Sequence[str] = ()) -> dict:
    if part == "info":
        return bloxio.make_header("static")
    if part == "env":
        return bloxio.make_header("env", extra_columns=list(env_keys), seed=seed)
    return bloxio.make_header("training", seed=seed, epochs=epochs, dataset=dataset, part=part)


def write_release(folder: str | Path, parts: dict[str, list], *, seed: int = 0, epochs: int, dataset: str = "cifar100",
                  env_keys: Sequence[str] = (), formats: Sequence[str] = (".blox", ".pickle", ".csv")) -> list[Path]:
    """Each part's rows ([model_hash, ...] in BLOX's column order) as BLOX's files, in each format."""
    folder = Path(folder)
    written = []
    for part, rows in parts.items():
        header = part_header(part, seed, epochs, dataset, env_keys)
        for suffix in formats:
            written.append(bloxio.write_file(folder / f"{part_name(part, seed)}{suffix}", header, rows))
    return written


def synthetic(n: int, epochs: int, seed: int = 0, archs: Sequence | None = None,
              parts: Sequence[str] = PARTS) -> tuple[dict[str, list], list[str]]:
    """Rows of a made-up release of `archs` (arch vectors, as trained), else of the first n unique architectures
    (in blockzoo's id order): accuracies as whole numbers of correct images in percent (unrounded, as BLOX's
    trainer hands them to its writer), losses, times, params, FLOPs and an environment. (parts, env_keys)."""
    rng = np.random.default_rng(seed)
    if archs is None:
        archs = [blox.nested(a) for _, a in zip(range(n), blox.all_archs(), strict=False)]
    n = len(archs)
    hashes = [bloxhash.model_hash(a) for a in archs]
    rise = 1 - np.exp(-np.arange(1, epochs + 1) / (epochs / 6))

    def curve(examples: int, top: float, size: int) -> np.ndarray:
        level = rng.uniform(0.4, 0.8, (size, 1)) * top
        correct = np.clip(np.round((level * rise + rng.normal(0, 0.01, (size, epochs))) * examples), 0, examples)
        return correct / examples * 100

    val, train, train5, val5 = (curve(e, t, n) for e, t in ((5000, 1.0), (45000, 1.1), (45000, 1.25), (5000, 1.2)))
    val5, train5 = np.maximum(val5, val), np.maximum(train5, train)
    test = np.round(rng.uniform(0.35, 0.75, n) * 10000) / 10000 * 100
    test5 = np.maximum(test, np.round(rng.uniform(0.6, 0.93, n) * 10000) / 10000 * 100)
    train_loss = 4.6 * np.exp(-np.arange(epochs) / (epochs / 4)) + rng.uniform(0.05, 0.5, (n, epochs))
    val_loss = train_loss + rng.uniform(0.2, 1.0, (n, 1))
    test_loss = val_loss[:, -1] + rng.normal(0, 0.02, n)
    times = rng.integers(3000, 30000, n)
    env_keys = ["cuda", "cudnn", "gpu", "python", "torch"]
    params = rng.integers(1_717_636, 3_784_037, n)
    flops = rng.integers(110_081_124, 306_983_013, n)
    out = {}  # the same values whichever parts are asked for; Python rows only for those
    if "info" in parts:
        out["info"] = [[h, int(p), int(f), [[list(c[0]), list(c[1])] for c in a]]
                       for h, p, f, a in zip(hashes, params, flops, archs, strict=True)]
    if "base" in parts:
        out["base"] = [[h, v.tolist(), float(t), int(s)] for h, v, t, s in zip(hashes, val, test, times, strict=True)]
    if "ext" in parts:
        out["ext"] = [[h, a.tolist(), b.tolist(), c.tolist(), d.tolist(), e.tolist(), float(f), float(g)]
                      for h, a, b, c, d, e, f, g in zip(hashes, train, train_loss, train5, val_loss, val5, test_loss,
                                                        test5, strict=True)]
    if "env" in parts:
        out["env"] = [[h, "11.3", "8302", "NVIDIA GeForce RTX 3090", "3.8.10", "1.12.1"] for h in hashes]
    return out, env_keys


def export(dataset, folder: str | Path, formats: Sequence[str] = (".blox", ".pickle", ".csv")) -> list[Path]:
    """The BLOX architectures of a MacroDataset (the macro stages' results) as a BLOX release folder: blox-info
    (params, blockzoo's FLOPs, the canonical arch vector trained), blox-base-<seed> per seed trained (validation
    top-1 per epoch and test top-1 in percent, training time in whole seconds) and blox-env-<seed> (dataset,
    recipe, epochs). BLOX's extended files need top-5 and per-epoch losses, which blockzoo's records lack: none."""
    frame = dataset.frame[dataset.frame["space"] == "blox"]
    trained = frame[frame["seed"].notna() & frame["test_acc"].notna() & frame["val_curve"].notna()]
    if trained.empty:
        raise BlockzooError("no trained BLOX architecture with a validation curve in this dataset; run the macro "
                            "stages with BLOX architectures (macro.archs) and their curves (plots/curves) first")
    first = frame.drop_duplicates("id")
    hash_of = {row.id: bloxhash.model_hash(json.loads(row.arch)) for row in first.itertuples()}
    info = [[hash_of[row.id], int(row.params), int(row.flops), json.loads(row.arch)] for row in first.itertuples()
            if row.params == row.params and row.flops == row.flops]
    written = []
    if info:
        written += write_release(folder, {"info": info}, epochs=0, formats=formats)
    for seed, runs in trained.groupby("seed"):
        curves = {row.id: json.loads(row.val_curve) for row in runs.itertuples()}
        lengths = {len(c) for c in curves.values()}
        if len(lengths) != 1:
            raise BlockzooError(f"seed {int(seed)}: the runs have validation curves of {sorted(lengths)} epochs; "
                                "BLOX's files hold runs of one length (export one setting at a time)")
        base = [[hash_of[row.id], [v * 100 for v in curves[row.id]], float(row.test_acc) * 100,
                 int(round(float(row.train_time_s)))] for row in runs.itertuples()]
        env = [[hash_of[row.id], str(row.dataset), str(row.epochs), str(row.recipe)] for row in runs.itertuples()]
        written += write_release(folder, {"base": base, "env": env}, seed=int(seed), epochs=lengths.pop(),
                                 dataset=str(runs["dataset"].iloc[0]), env_keys=["dataset", "epochs", "recipe"],
                                 formats=formats)
    return written


def search_table(view, metric: str = "val") -> dict[tuple[int, int, int], float]:
    """{(BLOX cell index per stage): accuracy} of a blox_api view with blox-info, for the search baselines: the
    best validation top-1 (metric "val") or the test top-1 ("test") of its first seed, in percent."""
    if view.static_info is None:
        raise BlockzooError("searching a BLOX release needs its blox-info file (the arch vector of each hash)")
    table, static = view.dbs[0], view.static_info.dbs[0]
    index = {blox_cell: i for i, blox_cell in enumerate(blox.unique_blox_cells())}
    by_code = np.full(256, -1, dtype=np.int64)
    for code in range(72):
        blox_cell = flat_blox_cell_of_code(code)
        if blox_cell[2:] != (0, 0, 0):
            by_code[code] = index[blox.canonical_blox_cell(blox_cell)]
    rows = np.array([static.index.get(h, -1) for h in table.hashes])
    if (rows < 0).any():
        raise BlockzooError(f"{int((rows < 0).sum())} networks of the training files are not in blox-info; give one "
                            "release's files")
    blox_cells = by_code[np.asarray(static.data["arch_vec"])[rows]]
    values = (np.asarray(table.data["val_top1"]).max(axis=1) if metric == "val" else
              np.asarray(table.data["test_top1"]))
    return {tuple(int(c) for c in arch): float(v) for arch, v in zip(blox_cells, values, strict=True)}
