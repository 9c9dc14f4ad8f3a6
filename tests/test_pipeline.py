"""End to end: the DVC pipeline in a temporary git repository made from this checkout.

Two blocks, two positions, one seed, a tiny training budget, the fake CIFAR-100 archive served on
127.0.0.1, set as the default setting in conf/. Checks the outputs and leaderboard, that the baseline
network trains once and stands at every position, that a second run does nothing, that a change to one
block's source or settings re-runs only that block's cells, that a new block re-runs nothing else, that
train cells run in parallel, and that `dvc exp run -S block=...` narrows one experiment only.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipeline_repo import compose, dvc, git_commit_all, make_repo, stages_run

CELLS = ["ResNetBasicBlock", "MobileOneBlock-early", "MobileOneBlock-late"]
MACRO = "blox-00-01-44"  # a BLOX network (at width 4 here), measured by the macro stages
DYNAMIC = "dynamic@ResNetBasicBlock-0-5.0"  # BlockDrop on the baseline network, seed 0, gamma 5
TINY_BLOCK = '''
from torch import nn
from blockzoo import register_block


@register_block()
def TinyTestBlock(in_channels, out_channels, stride, position):
    """One 3x3 conv and a BN."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False), nn.BatchNorm2d(out_channels))
'''


CELL_STAGES = ("profile@", "benchmark@", "train@", "macro_profile@", "macro_benchmark@", "macro_train@")


def cell_stages(proc: subprocess.CompletedProcess) -> set[str]:
    return {stage for stage in stages_run(proc) if stage.startswith(CELL_STAGES)}


def of(cells, seeds=(0,), prefix="") -> set[str]:
    return {f"{prefix}{kind}@{cell}" for cell in cells for kind in ("profile", "benchmark")} | {
        f"{prefix}train@{cell}-{seed}" for cell in cells for seed in seeds}


def leaderboard(repo: Path) -> dict:
    return json.loads((repo / "metrics" / "leaderboard.json").read_text())


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    """A stage's `error: ` line (DVC adds its own `ERROR: failed to reproduce`); else DVC's `ERROR: ` line, as a
    setting rejected while composing params.yaml is (conf/hydra_plugins/)."""
    output = (proc.stdout + proc.stderr).splitlines()
    lines = ([line for line in output if line.startswith("error: ")]
             or [line for line in output if line.startswith("ERROR: ")])
    assert len(lines) == 1 and "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    return lines[0]


@pytest.fixture(scope="module")
def repo(tmp_path_factory, fake_cifar100) -> Path:
    """A fresh git repository holding this checkout's files, with a test-sized default setting."""
    setting = {
        "zoo": ["ResNetBasicBlock", "MobileOneBlock"], "positions": ["early", "late"], "seeds": [0],
        "scaffold": {"num_blocks": 1, "base_channels": 8},
        "data": {"url": fake_cifar100.url, "md5": fake_cifar100.md5, "val_size": 200},
        "train": {"epochs": 1, "batch_size": 64, "limit_train_batches": 2, "device": "cpu"},
        "profile": {"memory_batch_size": 2},
        "benchmark": {"device": "cpu", "batch_size": 4, "warmup": 1, "repeats": 2, "threads": 1},
        "macro": {"archs": [MACRO], "blox_width": 4, "train": {"recipe": "blox"}},
        "dynamic": {"cells": ["ResNetBasicBlock"], "gammas": [5.0], "curriculum_epochs": 1, "finetune_epochs": 1,
                    "batch_size": 64, "limit_train_batches": 2, "device": "cpu", "latency_images": 5},
    }
    return make_repo(tmp_path_factory.mktemp("pipeline") / "repo", setting)


def changed_cell_stages(repo: Path) -> set[str]:
    """The cell stages `dvc repro` would run now, once the cells stage has rewritten the specs: DVC's own status."""
    dvc(repo, "repro", "cells")
    status = json.loads(dvc(repo, "status", "--json").stdout or "{}")
    return {stage for stage in status if stage.startswith(CELL_STAGES)}


def run_in_parallel(repo: Path, stages: list[str], workers: int = 2) -> None:
    """Several `dvc --wait-for-lock repro -s` at once: DVC releases its lock while a stage runs, so cells of one
    workspace can run in parallel without the cluster."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    todo = list(stages)
    running: list[tuple[str, subprocess.Popen]] = []
    while todo or running:
        while todo and len(running) < workers:
            stage = todo.pop(0)
            running.append((stage, subprocess.Popen(
                [sys.executable, "-m", "dvc", "--wait-for-lock", "repro", "-s", stage],
                cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)))
        stage, worker = running.pop(0)
        output = worker.communicate(timeout=900)[0]
        assert worker.returncode == 0, f"{stage}:\n{output}"


def test_pipeline_end_to_end(repo):
    assert yaml.safe_load((repo / "params.yaml").read_text())["cells"] == CELLS  # the baseline network once

    # The shared stages, then every cell stage two at a time, then what is left: aggregate only.
    shared = dvc(repo, "repro", "download", "cells")
    assert {"download", "cells"} <= stages_run(shared)
    listed = set(dvc(repo, "stage", "list", "--name-only").stdout.split())
    assert of(CELLS) <= listed and not {s for s in listed
                                        if "ResNetBasicBlock-" in s and "@ResNetBasicBlock-0" not in s}
    assert yaml.safe_load((repo / "params.yaml").read_text())["macro_cells"] == [MACRO]
    stages = of(CELLS) | of([MACRO], prefix="macro_")
    run_in_parallel(repo, sorted(stages, key=lambda stage: "train@" in stage))
    # BlockDrop on the trained baseline, and the baseline timed again at each position (the noise check)
    assert stages_run(dvc(repo, "repro")) == {DYNAMIC, "noise_check@early", "noise_check@late", "aggregate"}

    # Outputs and leaderboard: the baseline trained once, shown at both positions with the same numbers
    for cell in CELLS:
        for path in (f"metrics/profile/{cell}.json", f"metrics/benchmark/{cell}.json", f"metrics/train/{cell}-s0.json"):
            assert (repo / path).is_file(), path
        assert (repo / "runs" / f"{cell}-s0" / "checkpoints" / "last.ckpt").is_file()
    board = leaderboard(repo)
    assert set(board["cells"]) == {f"{b}-{p}" for b in ("ResNetBasicBlock", "MobileOneBlock")
                                   for p in ("early", "late")}
    early, late = board["cells"]["ResNetBasicBlock-early"], board["cells"]["ResNetBasicBlock-late"]
    assert early["test_acc_mean"] == late["test_acc_mean"] and early["rank_best"] == late["rank_best"]
    assert early["params_m"] == late["params_m"] and board["trained_runs"] == 3  # the baseline once
    for cell in board["cells"].values():
        assert 0 <= cell["test_acc_mean"] <= 1
        latency = cell["latency_b1_ms"] if "latency_b1_ms_busy" not in cell else cell["latency_b1_ms_busy"]
        assert cell["params_m"] > 0 and cell["mflops"] > 0 and latency > 0  # a latency timed busy is kept apart
    table = pd.read_csv(repo / "results" / "leaderboard.csv")  # every column per cell, beside the small metrics
    assert table["seeds_completed"].tolist() == [1] * 4 and (table["flops"] > 0).all()
    assert board["noise_check"]["measurements"] >= 1 and (repo / "results" / "noise_check.json").is_file()
    for position in ("early", "late"):  # the baseline's row at each position has that position's own timing
        timed = json.loads((repo / "metrics" / "noise" / f"ResNetBasicBlock-{position}.json").read_text())
        assert table.set_index(["block", "position"]).loc[("ResNetBasicBlock", position), "latency_b1_ms"] == \
            pytest.approx(timed["benchmark"]["latency_b1_ms"], rel=1e-5)
    assert board["blocks"]["ResNetBasicBlock"]["position_sensitivity"] == 0
    assert len((repo / "results" / "results.csv").read_text().splitlines()) == 1 + 4
    assert any((repo / "plots" / "figures").glob("*.png"))
    # the macro architecture, and every block cell as a point of the zoo space, in the macro dataset
    from blockzoo.macro.dataset import MacroDataset

    macro = MacroDataset.load(repo / "results" / "macro.csv", zoo=["ResNetBasicBlock", "MobileOneBlock"])
    assert set(macro) == {*CELLS, MACRO} and macro.full_info(MACRO)["runs"][0]["recipe"] == "blox"
    assert macro.test_acc("MobileOneBlock,ResNetBasicBlock,ResNetBasicBlock") is not None
    assert (repo / "plots" / "figures" / "macro_accuracy_vs_flops.png").is_file()
    assert set(board["macro"]["architectures"]) == {*CELLS, MACRO}  # the metrics file `dvc metrics diff` reads
    assert board["macro"]["architectures"][MACRO]["test_acc"] == pytest.approx(macro.test_acc(MACRO))
    # the dynamic run: its record, its figures, its leaderboard entry
    record = json.loads((repo / "metrics" / "dynamic" / "ResNetBasicBlock-s0-g5.0.json").read_text())
    assert record["dynamic"]["blocks_droppable"] == 3 and 0 <= record["dynamic"]["test_acc"] <= 1
    assert "ResNetBasicBlock" in board["dynamic"]
    assert (repo / "plots" / "figures" / "dynamic_drop_rates.png").is_file()
    assert (repo / "plots" / "dynamic" / "ResNetBasicBlock-s0-g5.0" / "images_by_blocks.png").is_file()
    assert "metrics/headline/cells/MobileOneBlock-late.json" in dvc(repo, "metrics", "show").stdout
    mode = (repo / "metrics" / "leaderboard.json").stat().st_mode & 0o777
    assert mode == 0o666 & ~current_umask()  # outputs keep the user's umask

    # A second run does nothing
    again = dvc(repo, "repro")
    assert stages_run(again) == set() and "up to date" in again.stdout + again.stderr
    git_commit_all(repo, "results")

    # An experiment with one block (here the baseline itself) reuses the cached cells ...
    experiment = dvc(repo, "exp", "run", "-S", "block=ResNetBasicBlock")
    assert cell_stages(experiment) == set()
    assert yaml.safe_load((repo / "params.yaml").read_text())["cells"] == ["ResNetBasicBlock"]
    assert set(leaderboard(repo)["cells"]) == {"ResNetBasicBlock-early", "ResNetBasicBlock-late"}
    # ... and a plain experiment afterwards is the whole (test-sized) zoo again
    assert cell_stages(dvc(repo, "exp", "run")) == set()
    assert yaml.safe_load((repo / "params.yaml").read_text())["cells"] == CELLS
    assert len(leaderboard(repo)["cells"]) == 4

    # A change to one block's source file changes only that block's cells; undone, nothing is left to run
    fastvit = repo / "blockzoo" / "blocks" / "fastvit.py"
    source = fastvit.read_text()
    fastvit.write_text(source + "\n# an edit to the FastViT family\n")
    assert changed_cell_stages(repo) == of(["MobileOneBlock-early", "MobileOneBlock-late"])
    fastvit.write_text(source)
    assert changed_cell_stages(repo) == set()

    # Editing conf/ without composing is caught; composed, one block's settings change only its train cells
    config = (repo / "conf" / "config.yaml").read_text()
    (repo / "conf" / "config.yaml").write_text(config.replace(
        "block_settings: {}", "block_settings: {MobileOneBlock: {train: {lr: 0.05}}}"))
    stale = dvc(repo, "repro", check=False)
    assert stale.returncode != 0 and "conf/ changed after params.yaml was composed" in one_error_line(stale)
    compose(repo)
    assert changed_cell_stages(repo) == {"train@MobileOneBlock-early-0", "train@MobileOneBlock-late-0"}
    (repo / "conf" / "config.yaml").write_text(config)

    # A new block: its module under user_blocks/ and its name in the zoo; no other cell changes
    (repo / "user_blocks" / "tiny_test_block.py").write_text(TINY_BLOCK)
    setting = (repo / "conf" / "setting" / "default.yaml").read_text()  # the test-sized zoo is set there
    (repo / "conf" / "setting" / "default.yaml").write_text(setting.replace("- MobileOneBlock\n",
                                                                            "- MobileOneBlock\n- TinyTestBlock\n"))
    compose(repo)
    assert changed_cell_stages(repo) == of(["TinyTestBlock-early", "TinyTestBlock-late"])


def test_bad_settings_stop_with_one_line_and_lose_nothing(repo):
    runs_before, params = file_digests(repo / "runs"), (repo / "params.yaml").read_text()
    assert runs_before
    # (every key and value is checked by tests/test_settings.py; here, that the pipeline stops on them)
    for override, message in (
        ("block=NoSuchBlock", "unknown block 'NoSuchBlock'"),
        ("train.batch_size=0", "train.batch_size must be an integer from 1 to 8192 (images per batch), got 0"),
        ("+train.epoch=3", "unknown setting 'train.epoch'; did you mean 'train.epochs'?"),
    ):
        proc = dvc(repo, "exp", "run", "-S", override, check=False)
        assert proc.returncode != 0, override
        assert message in one_error_line(proc), (override, proc.stdout + proc.stderr)
        assert (repo / "params.yaml").read_text() == params, override  # rejected before DVC writes it
    assert file_digests(repo / "runs") == runs_before


def file_digests(folder: Path) -> dict[Path, str]:
    return {path: hashlib.sha256(path.read_bytes()).hexdigest() for path in folder.rglob("*") if path.is_file()}


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
