"""The profile, benchmark and costs command lines with tiny settings; --help of every command.

A subprocess costs seconds of imports: the three commands that measure, and two that fail,
run as subprocesses, launched at once by one fixture; every user error is also checked
in-process through the same main().
"""
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from test_profile import PLAIN_CONV_BLOCKS

from blockzoo import costs, results
from blockzoo.benchmark.__main__ import main as benchmark_main
from blockzoo.profile.__main__ import main as profile_main

REPO = Path(__file__).resolve().parent.parent
TINY = ["--num-blocks", "1", "--base-channels", "8"]
TINY_TIMING = ["--batch-size", "2", "--warmup", "0", "--repeats", "1"]

COMMANDS = {
    "profile": ["blockzoo.profile", "ResNetBasicBlock", "--position", "mid", "--memory-batch-size", "2", *TINY,
                "--output", "out.json"],
    "benchmark": ["blockzoo.benchmark", "MobileOneBlock", "--position", "late", *TINY_TIMING, *TINY,
                  "--output", "out.json"],
    "costs": [
        "blockzoo.costs", "--blocks", "ResNetBasicBlock,PlainConvTestBlock", "--positions", "mid",
        "--block-module", "plain_conv_blocks.py",
        *TINY_TIMING, "--memory-batch-size", "2", *TINY, "--output", "results.csv",
    ],
}
USER_ERRORS = {
    "profile bad block": ["blockzoo.profile", "ResNetBasicBlok", "--position", "mid", "--output", "out.json"],
    "profile bad position": ["blockzoo.profile", "ResNetBasicBlock", "--position", "middle", "--output", "out.json"],
    "profile cuda": ["blockzoo.profile", "ResNetBasicBlock", "--position", "mid", "--device", "cuda",
                     "--output", "out.json"],
    "benchmark bad dtype": ["blockzoo.benchmark", "ResNetBasicBlock", "--position", "mid", "--dtype", "fp8",
                            "--output", "out.json"],
    "benchmark fp16 on cpu": ["blockzoo.benchmark", "ResNetBasicBlock", "--position", "mid", "--dtype", "fp16",
                              "--output", "out.json"],
    "benchmark cuda": ["blockzoo.benchmark", "ResNetBasicBlock", "--position", "mid", "--device", "cuda",
                       "--output", "out.json"],
    "costs bad block": ["blockzoo.costs", "--blocks", "ResNetBasicBlock,NoSuchBlock", "--output", "results.csv"],
    "costs bad position": ["blockzoo.costs", "--positions", "early,top", "--output", "results.csv"],
    "costs cuda": ["blockzoo.costs", "--device", "cuda", "--output", "results.csv"],
    "costs bad repeats": ["blockzoo.costs", "--repeats", "0", "--output", "results.csv"],
}
ERRORS = {
    "profile bad block": "unknown block 'ResNetBasicBlok'; did you mean ResNetBasicBlock",
    "profile bad position": "unknown position 'middle'; use one of: early, mid, late",
    "profile cuda": "CUDA is not available",
    "benchmark bad dtype": "benchmark.dtype must be one of 'float32'",
    "benchmark fp16 on cpu": "use --dtype bf16 or fp32",
    "benchmark cuda": "CUDA is not available",
    "costs bad block": "unknown block 'NoSuchBlock'",
    "costs bad position": "unknown position 'top'",
    "costs cuda": "CUDA is not available",
    "costs bad repeats": "argument --repeats: must be an integer from 1 to 10000 (timed iterations per round",
}
SUBPROCESS_ERRORS = ("profile bad block", "costs bad position" if torch.cuda.is_available() else "costs cuda")
COMMANDS.update({name: USER_ERRORS[name] for name in SUBPROCESS_ERRORS})


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """name -> (CompletedProcess, its working directory), every command run in a fresh directory."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # five at once on a small machine

    def run(name):
        cwd = tmp_path_factory.mktemp(name.replace(" ", "_"))
        (cwd / "plain_conv_blocks.py").write_text(PLAIN_CONV_BLOCKS)
        done = subprocess.run([sys.executable, "-m", *COMMANDS[name]], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=300)
        return name, (done, cwd)

    with ThreadPoolExecutor(max_workers=len(COMMANDS)) as pool:
        return dict(pool.map(run, COMMANDS))


@pytest.mark.parametrize("name,shown,expected", [
    ("profile", ["ResNetBasicBlock", "one multiply-add = one FLOP"], {"profile": {"memory_batch_size": 2}}),
    ("benchmark", ["MobileOneBlock-late", "deploy (re-parameterised)", "train (as built)"],
     {"benchmark": {"batch_size": 2, "repeats": 1}}),
])
def test_cell_cli_prints_a_table_and_writes_the_record(runs, name, shown, expected):
    done, cwd = runs[name]
    assert done.returncode == 0, done.stderr
    assert all(text in done.stdout for text in shown), done.stdout
    record = results.read_record(cwd / "out.json")
    assert record["scaffold"]["base_channels"] == 8
    for section, values in expected.items():
        assert {key: record[section][key] for key in values} == values


def test_costs_cli_with_a_user_block(runs):
    done, cwd = runs["costs"]
    assert done.returncode == 0, done.stderr
    assert "2 blocks x 1 positions = 2 cells on cpu" in done.stdout
    assert "PlainConvTestBlock" in done.stdout and "img/s b2" in done.stdout
    frame = results.read_results(cwd / "results.csv")
    assert sorted(frame["block"]) == ["PlainConvTestBlock", "ResNetBasicBlock"]
    assert frame["profile.params_total"].notna().all() and frame["benchmark.throughput"].notna().all()


def assert_one_error_line(name, returncode, stdout, stderr, cwd):
    assert returncode == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and ERRORS[name] in lines[0], stderr
    assert "Traceback" not in stdout
    assert not (cwd / "out.json").exists() and not (cwd / "results.csv").exists()


@pytest.mark.parametrize("name", SUBPROCESS_ERRORS)
def test_user_error_in_a_subprocess(runs, name):
    done, cwd = runs[name]
    assert_one_error_line(name, done.returncode, done.stdout, done.stderr, cwd)


@pytest.mark.parametrize("name", USER_ERRORS)
def test_user_errors_are_one_line(name, tmp_path, monkeypatch, capsys):
    if "cuda" in name and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    monkeypatch.chdir(tmp_path)
    module, *argv = USER_ERRORS[name]
    main = {"blockzoo.profile": profile_main, "blockzoo.benchmark": benchmark_main,
            "blockzoo.costs": costs.main}[module]
    returncode = main(argv)
    captured = capsys.readouterr()
    assert_one_error_line(name, returncode, captured.out, captured.err, tmp_path)


LIGHT_SCRIPT = """
import contextlib, io, json, sys
from importlib import import_module

def run(module, argv):
    name = f"blockzoo.{module}" + ("" if module in ("costs", "visualize") else ".__main__")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = import_module(name).main(argv)
        except SystemExit as exc:
            code = exc.code
    return {"code": code, "out": out.getvalue(), "err": err.getvalue(), "torch": "torch" in sys.modules}

print(json.dumps({name: run(*case) for name, case in json.loads(sys.argv[1]).items()}))
"""
LIGHT = {  # answered before torch is imported: --help, and the inputs that need no torch to be found wrong
    **{f"{module} --help": (module, ["--help"]) for module in ("profile", "benchmark", "train", "costs", "visualize",
                                                               "cluster")},
    "profile bad position": ("profile", ["ResNetBasicBlock", "--position", "middle"]),
    "profile output a folder": ("profile", ["ResNetBasicBlock", "--position", "mid", "--output", "."]),
    "benchmark bad dtype": ("benchmark", ["ResNetBasicBlock", "--position", "mid", "--dtype", "fp8"]),
    "train bad block name": ("train", ["Res-Net", "--position", "mid"]),
    "train out-dir a file": ("train", ["ResNetBasicBlock", "--position", "mid", "--out-dir", "a_file"]),
    "costs bad position": ("costs", ["--positions", "top"]),
    "visualize no results": ("visualize", ["no_results.csv"]),
}


def test_help_and_cheap_errors_come_before_the_torch_imports(tmp_path):
    (tmp_path / "a_file").write_text("")
    done = subprocess.run([sys.executable, "-c", LIGHT_SCRIPT, json.dumps(LIGHT)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    answers = json.loads(done.stdout)
    for name, answer in answers.items():
        module = LIGHT[name][0]
        if name.endswith("--help"):
            assert answer["code"] == 0 and f"python -m blockzoo.{module}" in answer["out"], (name, answer)
        else:
            assert answer["code"] == 2 and answer["err"].startswith("error: ") and answer["err"].count("\n") == 1, \
                (name, answer)
        assert not answer["torch"], f"{name}: torch was imported before the answer"
