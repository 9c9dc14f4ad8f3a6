"""Macro architectures: the BLOX space exactly as docs/blox.md, the zoo space, the dataset and its query API,
export/import, BLOX's own files, the search baselines, the command line."""
from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from blockzoo.errors import BlockzooError
from blockzoo.macro import blox
from blockzoo.macro.bloxnet import OPERATIONS, BloxCellModule, BloxNet
from blockzoo.macro.dataset import MacroDataset
from blockzoo.macro.search import random_search, regularized_evolution
from blockzoo.macro.space import BloxSpace, ZooSpace, macro_cells, network_name

EXAMPLE = [[[0], [1, 1, 1, 1]], [[1], [1, 1, 0, 0]], [[0], [0, 1, 1, 0]]]


def params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# --- the BLOX space --------------------------------------------------------------------------------------

def test_45_unique_blox_cells_and_91125_architectures():
    blox_cells = blox.unique_blox_cells()
    assert len(blox_cells) == 45
    schemes = [blox.SCHEMES[blox_cell[2:]] for blox_cell in blox_cells]
    assert {s: schemes.count(s) for s in set(schemes)} == {
        "single": 3, "sequential": 9, "dense-in": 9, "skip-out": 9, "both": 9, "parallel": 6}
    assert len(BloxSpace()) == 91_125
    assert sum(1 for _ in blox.all_archs()) == 91_125  # lazy, and quick


def test_parameter_counts_equal_blox():
    assert params(BloxNet(EXAMPLE)) == 3_104_164
    assert params(BloxNet([[[2], [0, 0, 0, 1]]] * 3)) == 1_717_636  # the smallest network
    assert params(BloxNet([[[1], [1, 1, 0, 0]]] * 3)) == 3_784_036  # the largest
    counts = [[params(op(c)) for c in (32, 64, 128)] for op in OPERATIONS]
    assert counts == [[37_248, 148_224, 591_360], [58_176, 231_040, 920_832], [21_856, 72_384, 259_456]]
    sizes = [params(BloxNet(arch)) for arch in BloxSpace().sample(200, seed=1)]
    assert min(sizes) >= 1_717_636 and max(sizes) <= 3_784_036


@pytest.mark.parametrize("code", [(0, 1, 1, 0, 0), (1, 2, 1, 1, 0), (2, 0, 1, 0, 1), (0, 2, 1, 1, 1), (1, 2, 0, 1, 1)])
def test_op1_receives_the_blox_cell_input_itself(code):
    blox_cell = BloxCellModule(code, 8).eval()
    seen = []
    blox_cell.op1.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0]))
    x = torch.randn(2, 8, 6, 6)
    blox_cell(x)
    assert len(seen) == 1 and seen[0] is x  # exactly once, x itself: never x + x


def test_the_blox_cell_computes_what_its_bits_say():
    torch.manual_seed(0)
    x = torch.randn(1, 8, 6, 6)
    cases = (((0, 1, 1, 1, 0), lambda c: c.op2(c.op1(x) + x)), ((0, 1, 1, 0, 1), lambda c: c.op2(c.op1(x)) + c.op1(x)),
             ((0, 1, 0, 1, 1), lambda c: c.op1(x) + c.op2(x)), ((2, 0, 0, 0, 1), lambda c: c.op1(x)))
    for code, expected in cases:
        blox_cell = BloxCellModule(code, 8).eval()
        with torch.no_grad():
            torch.testing.assert_close(blox_cell(x), expected(blox_cell))
    assert BloxCellModule((2, 1, 0, 0, 1), 8).op2 is None  # prev = input = 0, sc = 1: op2 is not built


def test_isomorphic_vectors_have_one_canonical_form_and_id():
    same = [
        [[[0], [1, 1, 1, 1]], [[1], [2, 0, 1, 1]], [[2], [0, 0, 0, 1]]],
        [[[0], [1, 1, 1, 1]], [[2], [1, 0, 1, 1]], [[0], [2, 0, 1, 0]]],  # parallel order; op2(x) alone
        [0, 1, 1, 1, 1, 2, 1, 0, 1, 1, 1, 2, 0, 1, 0],  # flat
    ]
    ids = {blox.arch_id(arch) for arch in same}
    assert len(ids) == 1 and blox.canonical(same[1]) == blox.canonical(same[0])
    assert blox.from_id(ids.pop()) == blox.canonical(same[0])
    assert blox.arch_id(EXAMPLE) != blox.arch_id([[[1], [1, 1, 1, 1]], [[1], [1, 1, 0, 0]], [[0], [0, 1, 1, 0]]])
    assert blox.describe(EXAMPLE) == "conv -> mbconv (both) | mbconv -> mbconv (sequential) | conv -> conv (dense-in)"


@pytest.mark.parametrize("arch,message", [
    ([1, 2, 3], "has 15 integers"),
    ([[[0], [1, 1, 1, 1]], [[1], [1, 1, 0, 0]]], "one BLOX cell per stage (3)"),
    ([[[0], [1, 1, 1, 1]], [[1], [1, 2, 0, 0]], [[0], [0, 1, 1, 0]]], "stage 1: prev must be an integer from 0 to 1"),
    ([[[3], [1, 1, 1, 1]], [[1], [1, 1, 0, 0]], [[0], [0, 1, 1, 0]]], "stage 0: op1 must be an integer from 0 to 2"),
    ([[[0], [1, 0, 0, 0]], [[1], [1, 1, 0, 0]], [[0], [0, 1, 1, 0]]], "prev = input = sc = 0 leaves the BLOX cell"),
    ("[[0]", "is not a BLOX arch vector"),
])
def test_bad_arch_vectors_are_one_line(arch, message):
    with pytest.raises(BlockzooError) as info:
        blox.canonical(arch)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_samples_are_seeded_and_distinct():
    space = BloxSpace()
    assert space.sample(20, 0) == space.sample(20, 0) != space.sample(20, 1)
    assert len({space.id(a) for a in space.sample(500, 3)}) == 500
    with pytest.raises(BlockzooError, match="cannot sample"):
        space.sample(91_126, 0)


# --- the zoo space ------------------------------------------------------------------------------------

def test_zoo_networks_that_are_block_cells_are_named_like_them():
    space = ZooSpace(["ResNetBasicBlock", "RepMixer"])
    assert len(space) == 8
    assert space.id("RepMixer,ResNetBasicBlock,ResNetBasicBlock") == "RepMixer-early"
    assert space.id(["ResNetBasicBlock"] * 3) == "ResNetBasicBlock"
    stages = ("RepMixer", "RepMixer", "ResNetBasicBlock")
    assert space.id(",".join(stages)) == network_name(stages) == "RepMixer+RepMixer+ResNetBasicBlock"
    net = space.build("RepMixer,ResNetBasicBlock,RepMixer", num_blocks=1, base_channels=8)
    assert net(torch.randn(1, 3, 32, 32)).shape == (1, 100)
    with pytest.raises(BlockzooError, match="one block per stage"):
        space.parse("RepMixer,RepMixer")
    # the macro cells of a run never repeat a block cell: its results are found, not retrained
    macro = {"archs": ["RepMixer,ResNetBasicBlock,ResNetBasicBlock", EXAMPLE, "blox-10-22-04"]}
    assert macro_cells(macro, ["RepMixer"], ["ResNetBasicBlock", "RepMixer-early"]) == ["blox-10-22-04"]


# --- the dataset ----------------------------------------------------------------------------------------

def record(cell, section, values, seed=None, space=None, arch=None):
    out = {"cell": cell, "seed": seed, section: values}
    if space:
        out.update(space=space, arch=json.dumps(arch))
    else:
        block, _, position = cell.rpartition("-")
        out.update(block=block or cell, position=position if block else None)
    return out


@pytest.fixture
def dataset() -> MacroDataset:
    example = blox.nested(EXAMPLE)
    records = [
        record("blox-10-22-04", "profile", {"params_total": 3_104_164, "flops_total": 291_780_864}, space="blox",
               arch=example),
        record("blox-10-22-04", "train", {"test_acc": 0.60, "val_acc": 0.62, "wall_time_s": 10.0}, 0, "blox", example),
        record("blox-10-22-04", "train", {"test_acc": 0.70, "val_acc": 0.66, "wall_time_s": 12.0}, 1, "blox", example),
        record("RepMixer-early", "profile", {"params_total": 2_000_000, "flops_total": 100_000_000}),
        record("RepMixer-early", "train", {"test_acc": 0.55, "val_acc": 0.57, "wall_time_s": 5.0}, 0),
        record("RepMixer+RepMixer+RepMixer", "profile", {"params_total": 900_000, "flops_total": 80_000_000},
               space="zoo", arch=["RepMixer"] * 3),
        record("RepMixer+RepMixer+RepMixer", "train", {"test_acc": 0.50}, 0, "zoo", ["RepMixer"] * 3),
    ]
    curves = {("blox-10-22-04", 0): [0.3, 0.62, 0.6], ("blox-10-22-04", 1): [0.4, 0.5, 0.66]}
    return MacroDataset.from_records(records, curves, zoo=["ResNetBasicBlock", "RepMixer"])


def test_the_query_api(dataset):
    assert len(dataset) == 3 and set(dataset) == {"blox-10-22-04", "RepMixer-early", "RepMixer+RepMixer+RepMixer"}
    isomorphic = [[[0], [1, 1, 1, 1]], [[1], [1, 1, 0, 0]], [[0], [0, 1, 1, 0]]]
    assert dataset.test_acc(isomorphic) == pytest.approx(0.65)
    assert dataset.val_acc(EXAMPLE) == pytest.approx(0.64)  # the best epoch, mean over seeds
    assert dataset.val_acc(EXAMPLE, epoch=1) == pytest.approx(0.56)
    assert dataset.val_acc(EXAMPLE, best=False) == pytest.approx(0.63)  # the last epoch
    assert dataset.train_time(EXAMPLE) == 11.0 and dataset.params(EXAMPLE) == 3_104_164
    assert dataset.flops("blox-10-22-04") == 291_780_864
    info = dataset.full_info(EXAMPLE)
    assert info["test_acc_std"] == pytest.approx(0.0707, abs=1e-4) and info["seeds"] == [0, 1]
    # a block cell of the pipeline is a point of the zoo space: found, not retrained
    assert dataset.test_acc(["RepMixer", "ResNetBasicBlock", "ResNetBasicBlock"]) == 0.55
    assert "RepMixer,ResNetBasicBlock,ResNetBasicBlock" in dataset and "RepMixer,RepMixer,RepMixer" in dataset
    assert [[[2], [0, 0, 0, 1]]] * 3 not in dataset
    with pytest.raises(BlockzooError, match="no results for architecture blox-"):
        dataset.test_acc([[[2], [0, 0, 0, 1]]] * 3)
    with pytest.raises(BlockzooError, match="trained for 3 epochs"):
        dataset.val_acc(EXAMPLE, epoch=5)


def test_budgets_pareto_and_uniform(dataset):
    assert set(dataset.filter(max_params=2.5e6)) == {"RepMixer-early", "RepMixer+RepMixer+RepMixer"}
    assert set(dataset.filter(space="blox")) == {"blox-10-22-04"}
    assert dataset.pareto("flops") == ["RepMixer+RepMixer+RepMixer", "RepMixer-early", "blox-10-22-04"]
    assert dataset.pareto("params") == ["RepMixer+RepMixer+RepMixer", "RepMixer-early", "blox-10-22-04"]
    assert dataset.uniform() == ["RepMixer+RepMixer+RepMixer"]
    board = dataset.leaderboard()
    assert list(board["architectures"]) == ["blox-10-22-04", "RepMixer-early", "RepMixer+RepMixer+RepMixer"]
    assert board["architectures"]["blox-10-22-04"]["test_acc"] == pytest.approx(0.65)
    assert board["architectures"]["blox-10-22-04"]["seeds"] == 2
    assert board["architectures"]["RepMixer-early"]["test_acc_std"] is None
    assert board["pareto_flops"] == {"blox": ["blox-10-22-04"], "zoo": ["RepMixer+RepMixer+RepMixer", "RepMixer-early"]}


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_round_trip_with_a_versioned_header(dataset, tmp_path, suffix):
    path = dataset.save(tmp_path / f"macro{suffix}")
    loaded = MacroDataset.load(path, zoo=["ResNetBasicBlock", "RepMixer"])
    pd.testing.assert_frame_equal(loaded.table(), dataset.table(), check_dtype=False)
    assert loaded.val_acc(EXAMPLE, epoch=2) == pytest.approx(0.63)
    other = tmp_path / f"other{suffix}"
    pd.DataFrame({"id": ["x"], "space": ["zoo"], "arch": ["[]"]}).to_csv(other, index=False) if suffix == ".csv" \
        else pd.DataFrame({"id": ["x"], "space": ["zoo"], "arch": ["[]"]}).to_parquet(other)
    with pytest.raises(BlockzooError, match="is not a blockzoo macro dataset"):
        MacroDataset.load(other)


def test_a_csv_in_a_format_blox_never_wrote_is_one_line(tmp_path):
    """BLOX's own release is read in tests/test_blox.py; a single csv with a header row is not BLOX's."""
    path = tmp_path / "blox-cifar100.csv"
    path.write_text(
        "---\ndataset: cifar100\nversion: 1\n---\n"
        "arch_vec,val_top1,test_top1,train_time_s,params,flops,latency_gpu\n"
        f"\"{json.dumps(EXAMPLE)}\",\"[40.0, 60.5, 61.0]\",60.2,3600,3104164,292970084,4.5\n")
    with pytest.raises(BlockzooError, match="has no BLOX training file .* it has: blox-cifar100.csv"):
        MacroDataset.from_blox_csv(path)
    path.rename(tmp_path / "blox-base-0.csv")
    with pytest.raises(BlockzooError, match="its header lacks format, columns, dataset_type; not a BLOX dataset file"):
        MacroDataset.from_blox_csv(tmp_path)


# --- search baselines ------------------------------------------------------------------------------------

def test_search_baselines_find_the_optimum_of_a_small_table():
    torch.manual_seed(0)
    choices = ("a", "b", "c")
    weights = {"a": 0.1, "b": 0.3, "c": 0.2}
    table = {arch: sum(weights[c] * (stage + 1) for stage, c in enumerate(arch)) + 0.01 * torch.rand(1).item()
             for arch in itertools.product(choices, repeat=3)}  # 27 architectures
    best = max(table.values())
    for search in (random_search, regularized_evolution):
        found = [search(table, 20, seed)[-1] == best for seed in range(20)]
        assert sum(found) >= 12, (search.__name__, sum(found))  # most runs, within 20 of 27 queries
        trajectory = search(table, 20, 0)
        assert len(trajectory) == 20 and trajectory == sorted(trajectory)
        assert search(table, 20, 5) == search(table, 20, 5)
    evolution_hits = sum(regularized_evolution(table, 12, s)[-1] == best for s in range(40))
    random_hits = sum(random_search(table, 12, s)[-1] == best for s in range(40))
    assert evolution_hits >= random_hits  # with a small budget, evolution's local steps help
    with pytest.raises(BlockzooError, match="positive number"):
        random_search(table, 0, 0)


def test_evolution_stuck_on_an_island_of_the_table_still_spends_its_budget():
    # two islands: a mutation of (a, *) only ever finds (a, *) in the table, never (c, *)
    table = {("a", "b"): 0.1, ("a", "b2"): 0.2, ("c", "d"): 0.3, ("c", "d2"): 0.4}
    for seed in range(10):
        trajectory = regularized_evolution(table, 4, seed, population=2)
        assert len(trajectory) == 4 and trajectory[-1] == 0.4


# --- the command line ------------------------------------------------------------------------------------

def macro(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "blockzoo.macro", *args], capture_output=True, text=True, timeout=300)


def test_cli_blox_cells_sample_and_profile():
    blox_cells = macro("blox-cells")
    assert blox_cells.returncode == 0 and len(blox_cells.stdout.splitlines()) == 45 and not blox_cells.stderr
    sample = macro("sample", "--space", "blox", "--n", "20", "--seed", "0")
    assert len(sample.stdout.splitlines()) == 20 and sample.stdout == macro("sample", "--space", "blox", "--n", "20",
                                                                             "--seed", "0").stdout
    profiled = macro("profile", json.dumps(EXAMPLE), "blox-00-00-00", "InvertedResidual,RepMixer,ResNetBottleneck",
                     "--memory-batch-size", "1")
    assert profiled.returncode == 0, profiled.stderr
    lines = [json.loads(line) for line in profiled.stdout.splitlines()]
    assert [line["id"] for line in lines] == ["blox-10-22-04", "blox-00-00-00",
                                              "InvertedResidual+RepMixer+ResNetBottleneck"]
    assert lines[0]["params_total"] == 3_104_164 and lines[0]["flops_total"] >= lines[0]["flops_total_fvcore"] > 0
    assert lines[2]["space"] == "zoo" and "flops_total_deploy" in lines[2]


@pytest.mark.parametrize("arch,message", [
    ("[0, 1, 2]", "has 15 integers"),
    ("[[[0],[1,1,1,1]],[[1],[1,1,0,0]],[[0],[0,1,1,5]]]", "sc must be an integer from 0 to 1"),
    ("[[[0],[1,0,0,0]],[[1],[1,1,0,0]],[[0],[0,1,1,0]]]", "(invalid)"),
    ("InvertedResidual,NoSuchBlock,RepMixer", "unknown block 'NoSuchBlock'"),
])
def test_cli_bad_architectures_are_one_line(arch, message, capsys):
    from blockzoo.macro.__main__ import main  # in-process: test_cli_blox_cells_sample_and_profile runs the real CLI

    assert main(["profile", arch]) == 2
    out, err = capsys.readouterr()
    assert not out and err.count("\n") == 1 and err.startswith("error: ") and message in err


RELEASE = "tests/data/blox-release"  # BLOX's files (tests/test_blox.py)


@pytest.mark.parametrize("argv,message", [
    (["sample", "--n", "-1"], "--n must be >= 0, got -1"),
    (["sample", "--space", "nas"], "unknown macro space 'nas'; use blox or zoo"),
    (["sample", "--n", "100000"], "cannot sample 100000 distinct architectures from a space of 91125"),
    (["profile", "blox-00-00-00", "--blox-width", "1"], "--blox-width must be >= 2"),
    (["profile", "blox-00-00-00", "--memory-batch-size", "0"], "--memory-batch-size must be >= 1"),
    (["profile", "blox-99-00-00"], "is not a BLOX architecture id"),
    (["search", "no/such/folder"], "no/such/folder is not a folder"),
    (["search", RELEASE, "--budget", "0"], "--budget must be >= 1, got 0"),
    (["search", RELEASE, "--runs", "0"], "--runs must be >= 1"),
    (["search", RELEASE, "--sample", "5", "--population", "4"], "--sample 5 is larger than --population 4"),
    (["search", RELEASE, "--algorithm", "bayes"], "invalid choice: 'bayes'"),
    (["search", RELEASE, "--ext", "json"], "invalid choice: 'json'"),
    (["search", "tests"], "has no BLOX training file"),
    (["export", "no/such/metrics", "out"], "no/such/metrics is not a folder of results"),
    (["export", "tests", "out", "--formats", "blox,xml"], "--formats 'blox,xml': give some of blox, pickle, csv"),
    (["export", "tests", "README.md"], "README.md is a file"),
    (["export", "tests", "out", "--curves", "nowhere"], "no trained BLOX architecture"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_cli_bad_inputs_are_one_line_before_any_work(argv, message, capsys, tmp_path, monkeypatch):
    from blockzoo.macro.__main__ import main

    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert not out and err.count("\n") == 1 and err.startswith("error: ") and message in err, err
    assert not Path("out").exists()


def test_cli_searches_a_blox_release():
    done = macro("search", RELEASE, "--budget", "5", "--runs", "3", "--population", "3", "--sample", "2")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("# 6 architectures from") and lines[-1] == "# best in the table: 76.680"
    rows = [line.split() for line in lines if line.startswith(("random", "evolution"))]
    assert [r[:2] for r in rows] == [["random", "0"], ["random", "1"], ["random", "2"], ["random", "mean"],
                                     ["evolution", "0"], ["evolution", "1"], ["evolution", "2"], ["evolution", "mean"]]
    assert all(float(r[-1]) <= 76.68 and [float(v) for v in r[2:]] == sorted(float(v) for v in r[2:]) for r in rows)
