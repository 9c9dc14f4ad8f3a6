"""The profile, benchmark and costs command lines with tiny settings; bad input to every command.

A subprocess costs seconds of imports: the three commands that measure, and two that fail,
run as subprocesses, launched at once by one fixture; every user error (of profile, benchmark,
costs, train, visualize and cluster, user block modules that misbehave included) is checked
in-process through the same main(); one subprocess checks what is answered before torch is imported.
"""
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from test_profile import PLAIN_CONV_BLOCKS

from blockzoo import BlockzooError, cli, costs, results
from blockzoo.benchmark.__main__ import main as benchmark_main
from blockzoo.blocks.registry import unregister_block
from blockzoo.profile.__main__ import main as profile_main
from blockzoo.train.__main__ import main as train_main
from blockzoo.visualize import main as visualize_main
from blockzoo_cluster.__main__ import main as cluster_main

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
# Bad input of every class, by command. "{blocks}", "{syntax}", "{missing_import}": the misbehaving user block
# modules (MISBEHAVING_BLOCKS); "a_dir", "a_file", "read_only/": a folder, a file and a folder nobody may write.
CALLED_AS = "fix the builder; it is called as {}(in_channels, out_channels, stride, position)"
MORE_ERRORS = {
    # profile: outputs, bounds, names, user blocks in each way they misbehave
    "profile output a folder": (["blockzoo.profile", "ResNetBasicBlock", "--position", "mid", "--output", "a_dir"],
                                "--output a_dir is a folder; give the path of a file"),
    "profile output under a file": (["blockzoo.profile", "ResNetBasicBlock", "--position", "mid", "--output",
                                     "a_file/out.json"], "--output a_file/out.json: a_file is a file, not a folder"),
    "profile output unwritable": (["blockzoo.profile", "ResNetBasicBlock", "--position", "mid", "--output",
                                   "read_only/out.json"], "cannot write in read_only (Permission denied)"),
    "profile too many blocks": (["blockzoo.profile", "RepMixer", "--position", "mid", "--num-blocks", "100000"],
                                "--num-blocks: must be an integer from 1 to 32 (blocks per stage"),
    "profile no blocks": (["blockzoo.profile", "RepMixer", "--position", "mid", "--num-blocks", "0"],
                          "--num-blocks: must be an integer from 1 to 32"),
    "profile base channels": (["blockzoo.profile", "RepMixer", "--position", "mid", "--base-channels", "100000"],
                              "--base-channels: must be an integer from 1 to 1024"),
    "profile scaffold too large": (["blockzoo.profile", "RepMixer", "--position", "mid", "--num-blocks", "32",
                                    "--base-channels", "1024"], "--num-blocks 32 with --base-channels 1024 makes a "
                                                                "scaffold of about 12,684M parameters"),
    "profile base channels not a number": (["blockzoo.profile", "RepMixer", "--position", "mid", "--base-channels",
                                            "1e3"], "--base-channels: must be an integer, got '1e3'"),
    "profile memory batch": (["blockzoo.profile", "RepMixer", "--position", "mid", "--memory-batch-size", "-1"],
                             "--memory-batch-size: must be an integer from 1 to 8192 (images per batch), got -1"),
    "profile bad block spec": (["blockzoo.profile", "Rep-Mixer", "--position", "mid"],
                               "'Rep-Mixer' is not a block name"),
    "profile bad dataset": (["blockzoo.profile", "RepMixer", "--position", "mid", "--dataset", "imagenet"],
                            "unknown dataset 'imagenet'"),
    "profile bad device": (["blockzoo.profile", "RepMixer", "--position", "mid", "--device", "tpu"],
                           "profile.device must be auto, cpu, cuda or cuda:N"),
    "profile module missing": (["blockzoo.profile", "RepMixer", "--position", "mid", "--block-module", "nowhere.py"],
                               "block module file nowhere.py does not exist"),
    "profile module not .py": (["blockzoo.profile", "RepMixer", "--position", "mid", "--block-module", "a_file"],
                               "block module file a_file is not a .py file"),
    "profile module a folder": (["blockzoo.profile", "RepMixer", "--position", "mid", "--block-module", "a_dir.py"],
                                "--block-module a_dir.py is a folder, not a block module file"),
    "profile block raises": (["blockzoo.profile", "TestRaises", "--position", "mid", "--block-module", "{blocks}"],
                             "block TestRaises ({blocks}) raised ValueError: no width 64 here when built as "
                             "TestRaises(64, 128, 2, 'mid'); " + CALLED_AS.format("TestRaises")),
    "profile block returns None": (["blockzoo.profile", "TestNone", "--position", "late", "--block-module",
                                    "{blocks}"], "block TestNone ({blocks}) returned None when built as "
                                                 "TestNone(128, 256, 2, 'late'), not a torch.nn.Module"),
    "profile block returns an int": (["blockzoo.profile", "TestInt", "--position", "mid", "--block-module",
                                      "{blocks}"], "block TestInt ({blocks}) returned 3 (of type int)"),
    "profile block wrong arguments": (["blockzoo.profile", "TestTwoArgs", "--position", "mid", "--block-module",
                                       "{blocks}"], "block TestTwoArgs ({blocks}) takes the wrong arguments"),
    "profile block wrong shape": (["blockzoo.profile", "TestNoStride", "--position", "mid", "--block-module",
                                   "{blocks}"], "block TestNoStride ({blocks}; mid stage, block 0: 64->128 channels, "
                                                "stride 2) returned (2, 128, 32, 32)"),
    "profile block forward raises": (["blockzoo.profile", "TestForwardRaises", "--position", "early",
                                      "--block-module", "{blocks}"],
                                     "block TestForwardRaises ({blocks}; early stage, block 0: 64->64 channels, "
                                     "stride 1) raised RuntimeError: not today on an input of (2, 64, 32, 32)"),
    "profile module syntax error": (["blockzoo.profile", "RepMixer", "--position", "mid", "--block-module",
                                     "{syntax}"], "failed to import: SyntaxError: "),
    "profile module import error": (["blockzoo.profile", "RepMixer", "--position", "mid", "--block-module",
                                     "{missing_import}"], "failed to import: ModuleNotFoundError: No module named "
                                                          "'no_such_package_for_blockzoo' (line 1 of"),
    # benchmark
    "benchmark output a folder": (["blockzoo.benchmark", "RepMixer", "--position", "mid", "--output", "a_dir"],
                                  "--output a_dir is a folder"),
    "benchmark threads": (["blockzoo.benchmark", "RepMixer", "--position", "mid", "--threads", "100000"],
                          "--threads: must be an integer from 1 to"),
    "benchmark no threads": (["blockzoo.benchmark", "RepMixer", "--position", "mid", "--threads", "0"],
                             "--threads: must be an integer from 1 to"),
    "benchmark repeats": (["blockzoo.benchmark", "RepMixer", "--position", "mid", "--repeats", "10000000"],
                          "--repeats: must be an integer from 1 to 10000"),
    "benchmark warmup": (["blockzoo.benchmark", "RepMixer", "--position", "mid", "--warmup", "-1"],
                         "--warmup: must be an integer from 0 to 10000"),
    "benchmark batch": (["blockzoo.benchmark", "RepMixer", "--position", "mid", "--batch-size", "0"],
                        "--batch-size: must be an integer from 1 to 8192"),
    "benchmark block raises": (["blockzoo.benchmark", "TestRaises", "--position", "mid", "--block-module",
                                "{blocks}"], "block TestRaises ({blocks}) raised ValueError"),
    # costs
    "costs positions twice": (["blockzoo.costs", "--positions", "mid,mid"], "--positions names mid more than once"),
    "costs blocks empty": (["blockzoo.costs", "--blocks", ","], "--blocks is empty"),
    "costs bad block spec": (["blockzoo.costs", "--blocks", "A-B"], "'A-B' is not a block name"),
    "costs output a folder": (["blockzoo.costs", "--output", "a_dir"], "--output a_dir is a folder"),
    "costs memory batch": (["blockzoo.costs", "--memory-batch-size", "100000"],
                           "--memory-batch-size: must be an integer from 1 to 8192"),
    "costs too many blocks": (["blockzoo.costs", "--num-blocks", "1000"], "--num-blocks: must be an integer"),
    "costs block raises before any cell is measured": (
        ["blockzoo.costs", "--blocks", "ResNetBasicBlock,TestRaises", "--positions", "mid", "--block-module",
         "{blocks}", "--output", "results.csv"], "block TestRaises ({blocks}) raised ValueError"),
    "costs module syntax error": (["blockzoo.costs", "--block-module", "{syntax}"], "failed to import: SyntaxError"),
    # train
    "train out-dir a file": (["blockzoo.train", "RepMixer", "--position", "mid", "--out-dir", "a_file"],
                             "--out-dir a_file is a file, not a folder"),
    "train out-dir under a file": (["blockzoo.train", "RepMixer", "--position", "mid", "--out-dir", "a_file/run"],
                                   "--out-dir a_file/run: a_file is a file, not a folder"),
    "train out-dir unwritable": (["blockzoo.train", "RepMixer", "--position", "mid", "--out-dir", "read_only/run"],
                                 "--out-dir read_only/run: cannot write in read_only"),
    "train data-root a file": (["blockzoo.train", "RepMixer", "--position", "mid", "--data-root", "a_file"],
                               "--data-root a_file is a file, not a folder"),
    "train seed negative": (["blockzoo.train", "RepMixer", "--position", "mid", "--seed", "-1"],
                            "--seed: must be an integer from 0 to 4294967295 (seeds are 32-bit"),
    "train seed huge": (["blockzoo.train", "RepMixer", "--position", "mid", "--seed", str(2**40)],
                        "--seed: must be an integer from 0 to 4294967295"),
    "train split seed": (["blockzoo.train", "RepMixer", "--position", "mid", "--split-seed", "-3"],
                         "--split-seed: must be an integer from 0"),
    "train epochs": (["blockzoo.train", "RepMixer", "--position", "mid", "--epochs", "100000"],
                     "--epochs: must be an integer from 1 to 1000"),
    "train batch": (["blockzoo.train", "RepMixer", "--position", "mid", "--batch-size", "0"],
                    "--batch-size: must be an integer from 1 to 8192"),
    "train val size": (["blockzoo.train", "RepMixer", "--position", "mid", "--val-size", "0"],
                       "--val-size: must be an integer from 1"),
    "train limit batches": (["blockzoo.train", "RepMixer", "--position", "mid", "--limit-train-batches", "0"],
                            "--limit-train-batches: must be an integer from 1"),
    "train lr nan": (["blockzoo.train", "RepMixer", "--position", "mid", "--lr", "nan"],
                     "--lr: must be a finite number, got 'nan'"),
    "train weight decay inf": (["blockzoo.train", "RepMixer", "--position", "mid", "--weight-decay", "inf"],
                               "--weight-decay: must be a finite number"),
    "train weight decay negative": (["blockzoo.train", "RepMixer", "--position", "mid", "--weight-decay", "-1"],
                                    "train.weight_decay must be a number >= 0"),
    "train label smoothing": (["blockzoo.train", "RepMixer", "--position", "mid", "--label-smoothing", "1.5"],
                              "train.label_smoothing must be in [0, 1)"),
    "train md5 not an md5": (["blockzoo.train", "RepMixer", "--position", "mid", "--data-md5", "xyz"],
                             "--data-md5: must be an md5: 32 hex digits"),
    "train block returns None": (["blockzoo.train", "TestNone", "--position", "mid", "--block-module", "{blocks}"],
                                 "block TestNone ({blocks}) returned None"),
    "train module import error": (["blockzoo.train", "RepMixer", "--position", "mid", "--block-module",
                                   "{missing_import}"], "failed to import: ModuleNotFoundError"),
    # visualize
    "visualize results a folder": (["blockzoo.visualize", "a_dir"], "results a_dir is a folder, not a results file"),
    "visualize no results": (["blockzoo.visualize", "nowhere.csv"], "results file nowhere.csv does not exist"),
    "visualize curves a folder": (["blockzoo.visualize", "a_file", "--curves", "a_dir"],
                                  "--curves a_dir is a folder, not a curves file"),
    "visualize out a file": (["blockzoo.visualize", "a_file", "--out", "a_file"],
                             "--out a_file is a file, not a folder"),
    "visualize out under a file": (["blockzoo.visualize", "a_file", "--out", "a_file/figures"],
                                   "a_file is a file, not a folder"),
    "visualize out unwritable": (["blockzoo.visualize", "a_file", "--out", "read_only"], "cannot write in read_only"),
    # cluster (its argument checks)
    "cluster no jobs": (["blockzoo_cluster", "run", "--jobs", "0"], "--jobs must be an integer from 1 to 1024"),
    "cluster too many jobs": (["blockzoo_cluster", "run", "--jobs", "100000"], "--jobs must be an integer from 1"),
    "cluster scratch a file": (["blockzoo_cluster", "run", "--scratch", "a_file"],
                               "--scratch a_file is a file, not a folder"),
}
USER_ERRORS.update({name: argv for name, (argv, _) in MORE_ERRORS.items()})
ERRORS.update({name: fragment for name, (_, fragment) in MORE_ERRORS.items()})
MISBEHAVING_BLOCKS = '''
import torch
from torch import nn
from blockzoo import register_block


@register_block()
def TestRaises(in_channels, out_channels, stride, position):
    raise ValueError(f"no width {in_channels} here")


@register_block()
def TestNone(in_channels, out_channels, stride, position):
    nn.Conv2d(in_channels, out_channels, 3, stride, 1)  # built, not returned


@register_block()
def TestInt(in_channels, out_channels, stride, position):
    return 3


@register_block()
def TestTwoArgs(in_channels, out_channels):
    return nn.Conv2d(in_channels, out_channels, 3, 1, 1)


@register_block
class TestNoStride(nn.Conv2d):
    def __init__(self, in_channels, out_channels, stride, position):
        super().__init__(in_channels, out_channels, 3, 1, 1)


@register_block()
class TestForwardRaises(nn.Module):
    def __init__(self, in_channels, out_channels, stride, position):
        super().__init__()

    def forward(self, x):
        raise RuntimeError("not today")
'''
MISBEHAVING_MODULES = {"blocks": MISBEHAVING_BLOCKS, "syntax": "def broken(:\n    pass\n",
                       "missing_import": "import no_such_package_for_blockzoo\n"}
SUBPROCESS_ERRORS = ("profile bad block", "costs bad position" if torch.cuda.is_available() else "costs cuda")
COMMANDS.update({name: USER_ERRORS[name] for name in SUBPROCESS_ERRORS})


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """name -> (CompletedProcess, its working directory), every command run in a fresh directory."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # five at once on a small machine

    # the folders made here, not in the threads: the first mktemp of a worker creates its base folder, and
    # five threads creating it at once raced (FileExistsError when this file was a worker's first)
    folders = {name: tmp_path_factory.mktemp(name.replace(" ", "_")) for name in COMMANDS}

    def run(name):
        cwd = folders[name]
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


@pytest.fixture(scope="module")
def misbehaving(tmp_path_factory):
    """The user block modules of MISBEHAVING_MODULES, written once (a module is imported once per process)."""
    folder = tmp_path_factory.mktemp("user_blocks")
    paths = {}
    for name, text in MISBEHAVING_MODULES.items():
        paths[name] = folder / f"misbehaving_{name}.py"
        paths[name].write_text(text)
    yield paths
    for block in ("TestRaises", "TestNone", "TestInt", "TestTwoArgs", "TestNoStride", "TestForwardRaises"):
        unregister_block(block)


def file_states(folder):
    return {path: (path.stat().st_size, path.stat().st_mtime_ns) for path in folder.rglob("*")}


@pytest.mark.parametrize("name", USER_ERRORS)
def test_user_errors_are_one_line(name, tmp_path, monkeypatch, capsys, misbehaving):
    if "cuda" in name and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_dir").mkdir()
    (tmp_path / "a_dir.py").mkdir()
    (tmp_path / "a_file").write_text("")
    (tmp_path / "read_only").mkdir(mode=0o555)  # root may write anywhere: its writes are refused below too
    mkstemp = tempfile.mkstemp

    def refused_in_read_only(*args, dir=None, **kwargs):
        if dir is not None and Path(dir).name == "read_only":
            raise PermissionError(13, "Permission denied")
        return mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(cli.tempfile, "mkstemp", refused_in_read_only)
    module, *argv = (arg.format(**misbehaving) for arg in USER_ERRORS[name])
    main = {"blockzoo.profile": profile_main, "blockzoo.benchmark": benchmark_main, "blockzoo.costs": costs.main,
            "blockzoo.train": train_main, "blockzoo.visualize": visualize_main,
            "blockzoo_cluster": cluster_main}[module]
    before = file_states(tmp_path)
    returncode = main(argv)
    captured = capsys.readouterr()
    assert returncode == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert ERRORS[name].format(**misbehaving) in lines[0], lines[0]
    assert "Traceback" not in captured.out
    assert file_states(tmp_path) == before  # nothing written, nothing deleted


def test_a_gpu_the_machine_does_not_have_is_one_line(monkeypatch):
    from blockzoo.cell import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(BlockzooError, match=r"device cuda:2 does not exist: this machine has 2 GPUs \(cuda:0 to "
                                            r"cuda:1\); use one of them, or cuda"):
        resolve_device("cuda:2")


LIGHT_SCRIPT = """
import contextlib, io, json, sys
from importlib import import_module

def run(module, argv):
    package = "blockzoo_cluster" if module == "blockzoo_cluster" else f"blockzoo.{module}"
    name = package + ("" if module in ("costs", "visualize") else ".__main__")
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
                                                               "blockzoo_cluster")},
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
            program = module if module == "blockzoo_cluster" else f"blockzoo.{module}"
            assert answer["code"] == 0 and f"python -m {program}" in answer["out"], (name, answer)
        else:
            assert answer["code"] == 2 and answer["err"].startswith("error: ") and answer["err"].count("\n") == 1, \
                (name, answer)
        assert not answer["torch"], f"{name}: torch was imported before the answer"


def test_an_unknown_block_is_refused_before_torch_is_imported():
    from blockzoo.blocks.registry import _REGISTRY, list_available_blocks
    from blockzoo.names import BUILTIN_BLOCKS

    list_available_blocks()  # loads the built-in modules; other tests may have registered user blocks beside them
    builtin = sorted(name for name, entry in _REGISTRY.items() if entry.module.startswith("blockzoo.blocks."))
    assert sorted(BUILTIN_BLOCKS) == builtin and len(builtin) == 11
    script = ("import sys\nfrom blockzoo.{command}.__main__ import main\ncode = main({argv!r})\n"
              "assert 'torch' not in sys.modules, 'torch imported'\nprint(code)")
    for command, argv in (("profile", ["NoSuch", "--position", "mid"]), ("train", ["NoSuch", "--position", "mid"])):
        proc = subprocess.run([sys.executable, "-c", script.format(command=command, argv=argv)], capture_output=True,
                              text=True, timeout=120)
        assert proc.stdout.strip() == "2" and proc.stderr.startswith("error: unknown block 'NoSuch'"), proc.stderr
