"""blockzoo_cluster.in_process on a small DVC repository, without Ray: a stage's script run in this process, DVC's
run-cache restoring it the second time, and a failing script reported as the cell's own failure."""
from __future__ import annotations

import io
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from blockzoo_cluster.in_process import repro_in_process, runs_in_process
from blockzoo_cluster.worker import CellFailed

SCRIPT = """import os, sys
from helper import greeting  # a module beside the script, as the stage scripts import common.py
if sys.argv[2] == "fail":
    print("error: the cell's own failure, one line", file=sys.stderr)
    sys.exit(2)
open(sys.argv[1], "w").write(greeting() + " " + os.environ["DVC_STAGE"] + " " + os.getcwd())
"""

DVC_YAML = """stages:
  hello:
    cmd: python stages/hello.py out.txt ok
    deps: [stages/hello.py, stages/helper.py]
    outs: [out.txt]
  broken:
    cmd: python stages/hello.py broken.txt fail
    deps: [stages/hello.py]
    outs: [broken.txt]
"""


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "checkouts" / "cell-1"
    (root / "stages").mkdir(parents=True)
    (root / "stages" / "hello.py").write_text(SCRIPT)
    (root / "stages" / "helper.py").write_text("def greeting():\n    return 'hello from'\n")
    (root / "dvc.yaml").write_text(DVC_YAML)
    for args in (["git", "init", "-q"], [sys.executable, "-m", "dvc", "init", "-q"],
                 [sys.executable, "-m", "dvc", "remote", "add", "-d", "store", str(tmp_path / "remote")]):
        subprocess.run(args, cwd=root, check=True, capture_output=True)
    return root


def test_a_stage_runs_in_this_process_then_comes_from_the_run_cache(checkout, tmp_path):
    log = tmp_path / "cell.log"
    assert repro_in_process("hello", checkout, log, threads=None) is True
    assert (checkout / "out.txt").read_text() == f"hello from hello {checkout}"  # its env and working directory
    assert "Running stage 'hello' in the worker's process" in log.read_text()
    assert (checkout / "dvc.lock").is_file()
    assert "helper" not in sys.modules and str(checkout / "stages") not in sys.path  # nothing of it kept

    for name in ("out.txt", "dvc.lock"):  # as a worker's fresh checkout starts
        (checkout / name).unlink()
    assert repro_in_process("hello", checkout, log, threads=None) is False  # DVC restored it
    assert (checkout / "out.txt").read_text() == f"hello from hello {checkout}"
    assert "Stage 'hello' is cached" in log.read_text()


def test_a_failing_script_is_the_cells_own_failure_with_its_last_lines(checkout, tmp_path):
    with pytest.raises(CellFailed) as info:
        repro_in_process("broken", checkout, tmp_path / "cell.log", threads=None)
    assert info.value.stage == "broken"
    assert "error: the cell's own failure, one line" in info.value.log_tail
    assert "exited with 2" in info.value.log_tail
    assert not (checkout / "broken.txt").exists()


def test_only_training_cells_run_in_the_workers_process():
    assert runs_in_process("train@RepMixer-mid-0") and runs_in_process("macro_train@arch-3-0")
    for stage in ("benchmark@RepMixer-mid", "profile@RepMixer-mid", "noise_check@early", "dynamic@RepMixer-mid-0-5.0"):
        assert not runs_in_process(stage)


def test_a_dvc_log_handler_left_on_a_closed_stream_does_not_fail_the_cell(checkout, tmp_path):
    """DVC's own handler (dvc.logger.setup: on sys.stdout as it was) raises when its stream is closed; an earlier
    in-process DVC command can leave one behind (as a finished pytest capture does)."""
    from dvc.logger import LoggerHandler

    closed = io.StringIO()
    closed.close()
    stale, logger = LoggerHandler(closed), logging.getLogger("dvc")
    logger.addHandler(stale)
    try:
        assert repro_in_process("hello", checkout, tmp_path / "cell.log", threads=None) is True
    finally:
        logger.removeHandler(stale)
    assert stale not in logger.handlers
