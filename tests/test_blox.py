"""BLOX's release files (read and written byte for byte), BLOX's query API exactly, the export of blockzoo's runs.

tests/data/blox-release/ holds a small release in BLOX's 12 files (scripts/make_blox_fixture.py); they are what
BLOX's own writer writes for the same rows, byte for byte, and the values pinned below are what BLOX's own code
(blox.from_folder and its getters, with its C reader) prints for them (docs/blox.md, "Checked against BLOX").
"""
from __future__ import annotations

import filecmp
import importlib.util
import io
import json
import pickle
import random
import re
import zlib
from pathlib import Path

import pytest

import blockzoo.macro.blox_api as blox
from blockzoo.errors import BlockzooError
from blockzoo.macro import bloxio, bloxrelease
from blockzoo.macro.dataset import MacroDataset

ROOT = Path(__file__).resolve().parents[1]
RELEASE = ROOT / "tests" / "data" / "blox-release"
EXAMPLE = [[[0], [1, 1, 1, 1]], [[1], [1, 1, 0, 0]], [[0], [0, 1, 1, 0]]]
EXAMPLE_HASH = "c3bc16e69893c8ea08f1e89e61f4caa5"  # BLOX's get_model_hash(EXAMPLE)
TRAINED_AS = [[[1], [2, 0, 1, 0]], [[2], [0, 1, 0, 1]], [[2], [1, 0, 1, 1]]]  # the fixture's 4th network, as trained
ISOMORPHIC = [[[2], [0, 0, 0, 1]], [[2], [0, 1, 0, 1]], [[2], [1, 0, 1, 1]]]  # the same network, written otherwise
ABSENT = [[[2], [2, 1, 1, 1]], [[1], [1, 1, 1, 1]], [[1], [1, 1, 1, 1]]]
NAMES = ["blox-base-0", "blox-env-0", "blox-ext-0", "blox-info"]


def fixture_module():
    spec = importlib.util.spec_from_file_location("make_blox_fixture", ROOT / "scripts" / "make_blox_fixture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_writer_writes_the_committed_files_byte_for_byte(tmp_path):
    fixture_module().write(tmp_path)
    for name in NAMES:
        for suffix in (".blox", ".pickle", ".csv"):
            assert filecmp.cmp(tmp_path / f"{name}{suffix}", RELEASE / f"{name}{suffix}", shallow=False), name + suffix


@pytest.mark.parametrize("name", NAMES)
def test_the_three_formats_give_the_same_values(name):
    headers, rows = {}, {}
    for suffix in (".blox", ".pickle", ".csv"):
        header, table = bloxio.read_file(RELEASE / f"{name}{suffix}")
        headers[suffix] = {k: v for k, v in header.items() if k not in ("format", "column_types")}
        rows[suffix] = table.rows()
    assert headers[".blox"] == headers[".pickle"] == headers[".csv"]
    assert rows[".blox"] == rows[".pickle"] == rows[".csv"] and len(rows[".blox"]) == 6
    assert [type(v) for v in rows[".csv"][0]] == [type(v) for v in rows[".pickle"][0]]


def test_read_of_write_is_the_identity(tmp_path):
    for name in NAMES:
        header, table = bloxio.read_file(RELEASE / f"{name}.pickle")
        header = {k: v for k, v in header.items() if k != "format"}
        for suffix in (".blox", ".pickle", ".csv"):
            path = bloxio.write_file(tmp_path / f"{name}{suffix}", header, table.rows())
            assert bloxio.read_file(path)[1].rows() == table.rows()
            assert filecmp.cmp(path, RELEASE / f"{name}{suffix}", shallow=False)  # and write(read(x)) == x


def test_blox_readme_snippet_prints_what_blox_prints(capsys):
    d = blox.from_folder(str(RELEASE))  # BLOX's README, only the import differs
    info = d.full_info(EXAMPLE)
    val_acc = d.val_acc(EXAMPLE)
    test_acc = d.test_acc(EXAMPLE)
    print(info)
    print(val_acc)
    print(test_acc)
    assert capsys.readouterr().out.splitlines() == [  # BLOX's own code's output for these files
        "{'val_top1': [47.06, 60.48, 62.98, 63.68, 64.7], 'test_top1': 71.4, 'train_time_s': 17285, "
        "'model_hash': 'c3bc16e69893c8ea08f1e89e61f4caa5', 'seed': 0}", "64.7", "71.4"]


@pytest.mark.parametrize("preferred_ext", [None, ["blox"], [".pickle"], "csv"])
def test_blox_api_answers_as_blox_does(preferred_ext):
    d = blox.from_folder(RELEASE, extended=True, include_static_info=True, include_env_info=True,
                         preferred_ext=preferred_ext)
    assert len(d) == 6 and d.epochs == 5 and d.dataset == "cifar100" and d.is_extended and d.seeds == [0]
    assert d.ops == ["conv", "mbconv", "bconv"] and d.search_space == [[[3], [3, 2, 2, 2]]] * 3
    # percent; epoch is a number of epochs; best: the best up to it (max for accuracy, min for loss)
    assert d.val_acc(EXAMPLE, epoch=3) == 62.98 and d.val_acc(EXAMPLE, epoch=3, best=False) == 62.98
    assert d.val_acc(EXAMPLE, epoch=None, best=False) == 64.7 and d.train_acc(EXAMPLE, epoch=2) == 60.227
    assert d.val_loss(EXAMPLE) == 1.359109 and d.val_loss(EXAMPLE, epoch=2, best=True) == 3.434268
    assert d.train_top5(EXAMPLE) == 73.429 and d.test_loss(EXAMPLE) == 1.320224 and d.test_top5(EXAMPLE) == 72.05
    assert d.train_time(EXAMPLE) == 17285 and d.train_time(EXAMPLE, epoch=2) == 17285 * 2 / 5
    assert d.params(EXAMPLE) == 2465504 and d.flops(EXAMPLE) == 291323144 and type(d.flops(EXAMPLE)) is int
    # any isomorphic vector finds the network; arch_vec() is the vector trained
    assert ISOMORPHIC in d and d.arch_vec(ISOMORPHIC) == TRAINED_AS
    assert d.full_info(ISOMORPHIC) == d.full_info(TRAINED_AS)
    # a missing architecture: None from every getter (BLOX's docstrings), False for `in`
    assert ABSENT not in d
    for getter in ("full_info", "val_acc", "test_acc", "train_time", "val_loss", "test_top5", "params", "flops",
                   "arch_vec"):
        assert getattr(d, getter)(ABSENT) is None, getter
    info = d.full_info(EXAMPLE)
    assert list(info) == ["val_top1", "test_top1", "train_time_s", "train_top1", "train_loss", "train_top5",
                          "val_loss", "val_top5", "test_loss", "test_top5", "model_hash", "seed", "info", "env"]
    assert info["info"]["arch_vec"] == EXAMPLE and info["env"]["gpu"] == "NVIDIA GeForce RTX 3090"
    row = d.full_info(EXAMPLE, return_dict=False)
    assert row[0] == EXAMPLE_HASH and row[11] == 0 and row[12] == [2465504, 291323144, EXAMPLE]
    assert d.full_info_by_graph(blox.get_model_graph(EXAMPLE)[0]) == info
    item = d[EXAMPLE_HASH]
    assert item[0] == EXAMPLE_HASH and item[1][0][:2] == [[47.06, 60.48, 62.98, 63.68, 64.7], 71.4]
    assert item[2] == [[2465504, 291323144, EXAMPLE]] and item[3] is None and item[4][0][2] == "NVIDIA GeForce RTX 3090"
    assert [entry[0] for entry in d][0] == EXAMPLE_HASH and len(list(d)) == 6


def test_seeds_devices_and_the_global_random_choice(tmp_path):
    parts, keys = bloxrelease.synthetic(6, 5, seed=0, archs=fixture_module().ARCHS)
    other, _ = bloxrelease.synthetic(6, 5, seed=1, archs=fixture_module().ARCHS)
    bloxrelease.write_release(tmp_path, {"base": parts["base"]}, seed=0, epochs=5, formats=[".csv"])
    bloxrelease.write_release(tmp_path, {"base": other["base"]}, seed=1, epochs=5, formats=[".blox"])
    bench = bloxio.make_header("benchmarking", device="gpu-a100")
    bloxio.write_file(tmp_path / "blox-bench-gpu-a100.pickle", bench, [[r[0], 1.25] for r in parts["base"]])
    d = blox.from_folder(tmp_path)
    assert d.seeds == [0, 1] and d.bench_info.devices == ["gpu-a100"]
    assert d.test_acc(EXAMPLE, seed=0) == 71.4 and d.test_acc(EXAMPLE, seed=1) == other["base"][0][2]
    assert d.latency(EXAMPLE) == [[1.25]] and d.latency(EXAMPLE, devices="gpu-a100", return_dict=True) == {
        "gpu-a100": {"latency": 1.25}}
    assert d.full_info(EXAMPLE, seed=1)["gpu-a100"] == {"latency": 1.25}
    random.seed(5)
    drawn = [d.full_info(EXAMPLE)["seed"] for _ in range(20)]
    random.seed(5)
    assert drawn == [d.seeds[random.randrange(2)] for _ in range(20)] and set(drawn) == {0, 1}  # BLOX's draw
    with pytest.raises(ValueError, match="seed 7 is not in this dataset"):
        d.val_acc(EXAMPLE, seed=7)
    with pytest.raises(ValueError, match="requires the extended training dataset"):
        d.val_loss(EXAMPLE)
    assert blox.from_folder(tmp_path, seeds=1).seeds == [1] and blox.from_folder(tmp_path, devices=False).bench_info \
        is None


def _truncated(data: bytes) -> bytes:
    return data[:-40]


def _corrupt_blox(data: bytes) -> bytes:
    """A valid zlib stream of rows that end early."""
    end = data.find(b"---\n", 3) + 4
    return data[:end] + zlib.compress(zlib.decompress(data[end:])[:-7])


BAD_FILES = [
    ("blox-base-0.csv", lambda d: b"model_hash,val_top1\nabc,1\n", "not a BLOX dataset file"),
    ("blox-base-0.blox", _truncated, "corrupt or truncated (zlib"),
    ("blox-base-0.blox", _corrupt_blox, "corrupt or truncated"),
    ("blox-base-0.pickle", _truncated, "corrupt or truncated (its pickle"),
    ("blox-base-0.csv", _truncated, "truncated"),
    ("blox-base-0.csv", lambda d: d[:d.find(b"---\n", 3)], "does not end"),
    ("blox-base-0.csv", lambda d: d.replace(b"dataset_type: training", b"dataset_type: [oops"), "header is not YAML"),
    ("blox-base-0.csv", lambda d: d.replace(b"format: csv", b"format: xml"), "unknown format 'xml'"),
    ("blox-base-0.pickle", lambda d: d[:d.find(b"---\n", 3) + 4] + pickle.dumps([[1, 2]]), "do not have the 4 columns"),
    ("blox-base-0.pickle", lambda d: d[:d.find(b"---\n", 3) + 4] + pickle.dumps(io.BytesIO()), "never holds"),
    ("blox-base-0.csv", lambda d: d.replace(b"71.4,", b"x71,"), "corrupt or truncated (ValueError"),
    ("blox-base-0.blox", lambda d: d.replace(b"format: custom", b"format: csv"), "corrupt or truncated"),
]


@pytest.mark.parametrize("name,damage,message", BAD_FILES)
def test_a_bad_file_is_one_line(tmp_path, name, damage, message):
    (tmp_path / name).write_bytes(damage((RELEASE / name).read_bytes()))
    with pytest.raises(BlockzooError, match=re.escape(message)) as caught:
        blox.from_folder(tmp_path)
    assert "\n" not in str(caught.value)
    with pytest.raises(BlockzooError, match=re.escape(message)):
        MacroDataset.from_blox(tmp_path)


def test_a_folder_without_blox_files_is_one_line(tmp_path):
    for call in (blox.from_folder, MacroDataset.from_blox):
        with pytest.raises(BlockzooError, match="is not a directory"):
            call(tmp_path / "absent")
        (tmp_path / "notes.csv").write_text("a,b\n")
        with pytest.raises(BlockzooError, match="has no BLOX training file .* it has: notes.csv"):
            call(tmp_path)
    (tmp_path / "blox-base-0.blox").write_bytes((RELEASE / "blox-base-0.blox").read_bytes())
    with pytest.raises(BlockzooError, match="no blox-ext-<seed> file"):
        blox.from_folder(tmp_path, extended=True)
    (tmp_path / "blox-ext-0.pickle").write_bytes((RELEASE / "blox-base-0.pickle").read_bytes())
    with pytest.raises(BlockzooError, match="seed 0 twice"):
        blox.from_folder(tmp_path, extended=True)


def test_macro_dataset_reads_the_release_in_blockzoo_terms():
    for ext in ("blox", "pickle", "csv"):
        d = MacroDataset.from_blox(RELEASE, preferred_ext=[ext])
        assert len(d) == 6 and d.test_acc(EXAMPLE) == pytest.approx(0.714)
        assert d.val_acc(EXAMPLE, epoch=2) == pytest.approx(0.6298)  # 0-based epoch, 0..1
        assert d.params(EXAMPLE) == 2465504 and d.flops(EXAMPLE) == 291323144
        assert d.arch_vec(TRAINED_AS) == [[[2], [0, 0, 0, 1]], [[2], [0, 1, 0, 1]], [[1], [2, 0, 1, 1]]]  # canonical
    assert MacroDataset.from_blox_csv(RELEASE / "blox-base-0.csv").table().equals(d.table())
    with pytest.raises(BlockzooError, match="is a BLOX release, not blockzoo's results; read it with"):
        MacroDataset.from_folder(RELEASE)  # not an empty dataset without a word


def test_export_of_blockzoo_runs_reads_back(tmp_path):
    curves = {("blox-10-22-04", 0): [0.40, 0.605, 0.61], ("blox-10-22-04", 1): [0.41, 0.60, 0.62],
              ("blox-00-00-00", 0): [0.30, 0.50, 0.4998]}
    records = []
    for (cell, seed), curve in curves.items():
        records.append({"cell": cell, "space": "blox", "arch": json.dumps(blox_vector(cell)), "seed": seed,
                        "train": {"test_acc": 0.6021 + seed / 100, "val_acc": max(curve), "wall_time_s": 3600.4,
                                  "epochs_run": 3, "dataset": "cifar100", "recipe": "blox"}})
        records.append({"cell": cell, "space": "blox", "arch": json.dumps(blox_vector(cell)), "seed": None,
                        "profile": {"params_total": 3104164, "flops_total": 291780864}})
    dataset = MacroDataset.from_records(records, curves)
    written = bloxrelease.export(dataset, tmp_path)
    assert sorted(p.name for p in written if p.suffix == ".csv") == [
        "blox-base-0.csv", "blox-base-1.csv", "blox-env-0.csv", "blox-env-1.csv", "blox-info.csv"]
    for ext in ("blox", "pickle", "csv"):
        back = MacroDataset.from_blox(tmp_path, preferred_ext=[ext])
        assert set(back) == set(dataset)
        for cell in dataset:
            for name in ("test_acc", "val_acc", "params", "flops"):
                assert getattr(back, name)(cell) == pytest.approx(getattr(dataset, name)(cell), abs=1e-12), name
            assert back.val_acc(cell, epoch=1) == pytest.approx(dataset.val_acc(cell, epoch=1), abs=1e-12)
    with pytest.raises(ValueError, match="other models than the one at position 0"):  # BLOX's check of seeds
        blox.from_folder(tmp_path)
    view = blox.from_folder(tmp_path, include_static_info=True, include_env_info=True, validate_data=False)
    assert view.test_acc(EXAMPLE, seed=1) == 61.21 and view.val_acc(EXAMPLE, seed=0) == 61.0
    assert view.full_info(EXAMPLE, seed=0)["env"] == {"dataset": "cifar100", "epochs": "3", "recipe": "blox"}


def blox_vector(cell: str):
    from blockzoo.macro import blox as space

    return space.nested(space.from_id(cell))


def test_pareto_front_of_a_release_sized_table():
    """MacroDataset.pareto on the 91,125 networks of a release: O(n log n), the brute force's answer."""
    import numpy as np

    from blockzoo.report.summary import pareto_front

    rng = np.random.default_rng(0)
    for _ in range(200):
        points = rng.integers(0, 6, (rng.integers(1, 25), 2)).astype(float)
        points[rng.random(points.shape) < 0.1] = np.nan
        x, y = points[:, :1], points[:, 1:]
        dominated = ((x.T <= x) & (y.T >= y) & ((x.T < x) | (y.T > y)) & np.isfinite(points).all(1)[None]).any(1)
        assert (pareto_front(points) == (np.isfinite(points).all(1) & ~dominated)).all()
    big = rng.random((91125, 2))
    front = pareto_front(big)
    assert front.any() and big[front, 0].min() == big[:, 0].min() and big[front, 1].max() == big[:, 1].max()
