"""blockzoo_cluster.repro: DVC's `dvc repro` with dvc.lock written once, on a small DVC repository (no Ray).

The same pipeline reproduced by plain `dvc repro` and by blockzoo_cluster.repro must leave the same dvc.lock and
outputs, restore from the run-cache the same way, and keep the stages that finished when a later one fails."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest

ROOT = Path(__file__).resolve().parent.parent
STAGES = 6
DVC_YAML = "stages:\n" + "".join(
    f"  step{i}:\n    cmd: python -c \"open('out{i}.txt', 'w').write(open('in.txt').read() * {i + 1})\"\n"
    f"    deps: [in.txt]\n    outs: [out{i}.txt]\n" for i in range(STAGES)) + (
    "  total:\n    cmd: python -c \"import sys; open('total.txt', 'w').write(str(sum(len(open(f'out{i}.txt').read())"
    f" for i in range({STAGES}))))\"\n"
    f"    deps: [{', '.join(f'out{i}.txt' for i in range(STAGES))}]\n    outs: [total.txt]\n")


def dvc(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dvc", *args], cwd=root, capture_output=True, text=True)


def repro_once(root: Path, *args: str) -> subprocess.CompletedProcess:
    """`python -m blockzoo_cluster.repro ARGS`, as the driver runs it: `dvc repro ARGS`."""
    return subprocess.run([sys.executable, "-m", "blockzoo_cluster.repro", *args], cwd=root, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


def pipeline(root: Path, dvc_yaml: str = DVC_YAML) -> Path:
    root.mkdir(parents=True)
    (root / "in.txt").write_text("ab")
    (root / "dvc.yaml").write_text(dvc_yaml)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    assert dvc(root, "init", "-q").returncode == 0
    return root


def test_the_lock_and_outputs_are_dvcs_own_and_the_run_cache_restores(tmp_path):
    plain, batched = pipeline(tmp_path / "plain"), pipeline(tmp_path / "batched")
    assert dvc(plain, "repro").returncode == 0
    run = repro_once(batched)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Running stage 'step3'" in run.stdout and "Running stage 'total'" in run.stdout  # DVC's own output
    assert (batched / "dvc.lock").read_text() == (plain / "dvc.lock").read_text()
    assert (batched / "total.txt").read_text() == str(2 * sum(range(1, STAGES + 1)))
    assert "up to date" in dvc(batched, "status").stdout

    for i in range(STAGES):  # outputs and lock gone, as in a fresh checkout: the run-cache brings them back
        (batched / f"out{i}.txt").unlink()
    (batched / "dvc.lock").unlink()
    again = repro_once(batched)
    assert again.returncode == 0 and again.stdout.count("is cached - skipping run") == STAGES + 1, again.stdout
    assert (batched / "dvc.lock").read_text() == (plain / "dvc.lock").read_text()


def test_the_lock_is_written_once_for_every_stage(tmp_path, monkeypatch):
    from dvc.dvcfile import Lockfile

    from blockzoo_cluster.repro import main

    root = pipeline(tmp_path / "repo")
    monkeypatch.chdir(root)
    with mock.patch.object(Lockfile, "dump_stages", autospec=True, side_effect=Lockfile.dump_stages) as dump:
        assert main([]) == 0
    assert dump.call_count == 1 and len(dump.call_args.args[1]) == STAGES + 1
    assert "up to date" in dvc(root, "status").stdout


def test_what_finished_before_a_failing_stage_stays_in_the_lock(tmp_path):
    broken = DVC_YAML.replace("open('in.txt').read() * 4", "open('missing.txt').read()")  # step3 fails
    root = pipeline(tmp_path / "repo", broken)
    run = repro_once(root, "--keep-going")
    assert run.returncode != 0 and "step3" in run.stderr + run.stdout
    status = dvc(root, "status").stdout
    assert "step3:" in status and "total:" in status
    for i in (0, 1, 2, 4, 5):
        assert f"step{i}:" not in status  # recorded in dvc.lock although the repro failed


@pytest.mark.parametrize("args", [["--dry"], ["step1", "--single-item"], ["step2", "--force"]])
def test_other_arguments_do_what_dvc_repro_does(tmp_path, args):
    plain, batched = pipeline(tmp_path / "plain"), pipeline(tmp_path / "batched")
    expected, run = dvc(plain, "repro", *args), repro_once(batched, *args)
    assert run.returncode == expected.returncode, run.stderr
    files = [sorted(p.name for p in root.iterdir()) for root in (plain, batched)]
    assert files[0] == files[1]
    if (plain / "dvc.lock").exists():
        assert (batched / "dvc.lock").read_text() == (plain / "dvc.lock").read_text()
