"""End to end: the DVC pipeline in a temporary git repository made from this checkout.

Two blocks, two positions, one seed, a tiny training budget, the fake CIFAR-100 archive served on
127.0.0.1. Checks the outputs and leaderboard, that a second run does nothing, that a change to
one block's source or settings re-runs only that block's cells, that train cells run in parallel,
and that `dvc exp run -S block=...` runs exactly that block.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BLOCKS = ["ResNetBasicBlock", "MobileOneBlock"]
POSITIONS = ["early", "late"]
GENERATED = ["dvc.lock", "metrics", "results", "plots/figures", "plots/curves", "pipeline", "runs", "data"]


def run(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run([*args], cwd=repo, env=env, capture_output=True, text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def dvc(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run(repo, sys.executable, "-m", "dvc", *args, check=check)


def stages_run(proc: subprocess.CompletedProcess) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", proc.stdout + proc.stderr))


def git_commit_all(repo: Path, message: str) -> None:
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-q", "--allow-empty", "-m", message)


@pytest.fixture(scope="module")
def repo(tmp_path_factory, fake_cifar100) -> Path:
    """A fresh git repository holding this checkout's files (tracked and untracked, not ignored)."""
    repo = tmp_path_factory.mktemp("pipeline") / "repo"
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True)
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = ROOT / name
        if source.is_symlink() or source.is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name, follow_symlinks=False)
    for name in GENERATED:  # start from nothing: no committed results
        path = repo / name
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params.update(zoo=BLOCKS, positions=POSITIONS, seeds=[0])
    params["scaffold"] = {"num_blocks": 1, "base_channels": 8}
    params["data"].update(url=fake_cifar100.url, md5=fake_cifar100.md5, val_size=200)
    params["train"].update(epochs=1, batch_size=64, limit_train_batches=2, device="cpu")
    params["profile"].update(memory_batch_size=2)
    params["benchmark"].update(device="cpu", batch_size=4, warmup=1, repeats=2, threads=1)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(repo, "git", "init", "-q")
    run(repo, "git", "config", "user.email", "test@example.com")
    run(repo, "git", "config", "user.name", "test")
    git_commit_all(repo, "blockzoo copy")
    return repo


def cells(prefix: str, blocks=BLOCKS, seeds=(None,)) -> set[str]:
    return {f"{prefix}@{b}-{p}" + ("" if s is None else f"-{s}") for b in blocks for p in POSITIONS for s in seeds}


def test_pipeline_end_to_end(repo):
    # Shared stages first, then the train cells in parallel, then whatever is left (aggregate).
    shared = dvc(repo, "repro", "download", "blocks", "profile", "benchmark")
    assert cells("profile") | cells("benchmark") | {"download", "blocks"} <= stages_run(shared)
    train_cells = sorted(cells("train", seeds=(0,)))
    assert set(train_cells) <= set(dvc(repo, "stage", "list", "--name-only").stdout.split())
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    workers = [
        subprocess.Popen([sys.executable, "-m", "dvc", "--wait-for-lock", "repro", "-s", cell], cwd=repo, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for cell in train_cells
    ]
    outputs = [worker.communicate(timeout=900)[0] for worker in workers]
    assert all(worker.returncode == 0 for worker in workers), "\n".join(outputs)
    rest = dvc(repo, "repro")
    assert stages_run(rest) == {"aggregate"}

    # Outputs and leaderboard
    for cell in cells("", seeds=(None,)):
        name = cell.lstrip("@")
        assert (repo / "metrics" / "profile" / f"{name}.json").is_file()
        assert (repo / "metrics" / "benchmark" / f"{name}.json").is_file()
        assert (repo / "metrics" / "train" / f"{name}-s0.json").is_file()
        assert (repo / "runs" / f"{name}-s0" / "checkpoints").is_dir()
    leaderboard = json.loads((repo / "metrics" / "leaderboard.json").read_text())
    assert set(leaderboard["cells"]) == {f"{b}@{p}" for b in BLOCKS for p in POSITIONS}
    for cell in leaderboard["cells"].values():
        assert cell["seeds_completed"] == 1 and 0 <= cell["test_acc_mean"] <= 1
        assert cell["params"] > 0 and cell["flops"] > 0 and cell["latency_b1_ms"] > 0
    assert leaderboard["blocks"]["ResNetBasicBlock"]["position_sensitivity"] == 0
    results_csv = (repo / "results" / "results.csv").read_text().splitlines()
    assert len(results_csv) == 1 + len(BLOCKS) * len(POSITIONS)
    assert any((repo / "plots" / "figures").glob("*.png"))
    metrics_show = dvc(repo, "metrics", "show")
    assert "MobileOneBlock@late" in metrics_show.stdout

    # A second run does nothing
    again = dvc(repo, "repro")
    assert stages_run(again) == set()
    assert "up to date" in again.stdout + again.stderr

    # A change to one block's source file re-runs only that block's cells
    with open(repo / "blockzoo" / "blocks" / "fastvit.py", "a") as f:
        f.write("\n# an edit to the FastViT family\n")
    changed = stages_run(dvc(repo, "repro"))
    mobileone = cells("profile", ["MobileOneBlock"]) | cells("benchmark", ["MobileOneBlock"]) | cells("train", ["MobileOneBlock"], (0,))
    assert mobileone <= changed
    assert not {s for s in changed if "ResNetBasicBlock" in s}

    # A change to one block's settings re-runs only that block's train cells
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["blocks"]["MobileOneBlock"] = {"train": {"lr": 0.05}}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    changed = stages_run(dvc(repo, "repro"))
    assert changed - {"aggregate"} == cells("train", ["MobileOneBlock"], (0,))
    git_commit_all(repo, "results")

    # An experiment with exactly one block reuses its cached cells
    experiment = dvc(repo, "exp", "run", "-S", "block=ResNetBasicBlock")
    assert not {s for s in stages_run(experiment) if s.startswith(("train@", "profile@", "benchmark@"))}
    leaderboard = json.loads((repo / "metrics" / "leaderboard.json").read_text())
    assert set(leaderboard["cells"]) == {f"ResNetBasicBlock@{p}" for p in POSITIONS}
    assert yaml.safe_load((repo / "params.yaml").read_text())["zoo"] == ["ResNetBasicBlock"]

    unknown = dvc(repo, "exp", "run", "-S", "block=NoSuchBlock", check=False)
    assert unknown.returncode != 0
    assert "block/NoSuchBlock" in unknown.stdout + unknown.stderr


def test_every_registered_block_has_an_experiment_config():
    """`dvc exp run -S block=NAME` needs conf/block/NAME.yaml for every block of the zoo."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for name in params["zoo"]:
        config = yaml.safe_load((ROOT / "conf" / "block" / f"{name}.yaml").read_text())
        assert config == {"zoo": [name]}
        assert name in params["blocks"]
