"""Every bad setting a user can give ends in one line naming it (and the closest known key), exit status 2, and
nothing on disk touched: through `make params` (scripts/compose_params.py, run in-process here), conf/ edits,
the cells stage's own check (which runs before every other stage), `dvc exp run -S` and `dvc repro download`.

The cases are grouped by what used to go wrong: a setting a later stage rejected after DVC had removed its
outputs (the dataset's folder among them); a key conf/ does not have (a Hydra traceback, or its advice to write
+key=value); a setting accepted without a word (an empty list, a duplicate, block_settings of a block the run
does not have); a message that named another setting than the one given.
"""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest
import yaml

from pipeline_repo import dvc, git_commit_all, make_repo

from blockzoo.errors import BlockzooError
from blockzoo.params import PipelineSettings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import compose_params  # noqa: E402

ZOO = ["ResNetBasicBlock", "InvertedResidual", "MobileOneBlock"]
ARCH = "InvertedResidual,RepMixer,ResNetBottleneck"

# (overrides, what the one line says); each is composed on top of the repository's test-sized setting
STAGE_WOULD_REJECT = [  # the download, benchmark, dynamic and aggregate stages' own checks, made before any stage
    (["data.archive=/nonexistent"], "data.archive /nonexistent does not exist"),
    (["data.archive=/etc/hostname"], "data.archive /etc/hostname is a file, but fashion-mnist comes as four files"),
    (["data.url=http://127.0.0.1:9/"], "both data.url and data.archive are set"),
    (["data.md5=0123456789abcdef0123456789abcdef"], "an md5 can only be given for a single-archive dataset"),
    (["data.dataset=imagenet"], "data.dataset must be one of cifar100, cifar10, fashion-mnist"),
    (["data.val_size=60000"], "data.val_size: the validation size 60000 does not fit the 60000 training images"),
    (["data.root=/tmp"], "data.root must be a folder inside this repository (a relative path, e.g. data), got '/tmp'"),
    (["benchmark.device=cpu", "benchmark.dtype=fp16"], "benchmark.dtype fp16 with benchmark.device cpu: float16"),
    (["dynamic.curriculum_epochs=0", "dynamic.finetune_epochs=0"],
     "dynamic.curriculum_epochs + dynamic.finetune_epochs is 0"),
    (["positions=[]"], "positions is empty and there is no macro architecture"),
    (["macro.sample=999999"], "macro: cannot sample 999999 distinct architectures"),
]
UNKNOWN_KEYS = [
    (["train.epoch=3"], "unknown setting 'train.epoch'; did you mean 'train.epochs'?"),
    (["+train.epoch=3"], "unknown setting 'train.epoch'; did you mean 'train.epochs'?"),
    (["epochs=3"], "unknown setting 'epochs'; did you mean 'train.epochs'?"),
    (["trian.epochs=3"], "unknown setting 'trian.epochs'; did you mean 'train.epochs'?"),
    (["data.val_sz=10"], "unknown setting 'data.val_sz'; did you mean 'data.val_size'?"),
    (["+dynamic.gama=1"], "unknown setting 'dynamic.gama'; did you mean 'dynamic.gammas'?"),
    (["+cluster.train_gpu=1"], "unknown setting 'cluster.train_gpu'; did you mean 'cluster.train_gpus'?"),
    (["setting=tryuot"], "unknown setting=tryuot: conf/setting/ has no tryuot.yaml; did you mean 'setting=tryout'?"),
    (["block_settings.InvertedResidual.variant=uniform"],
     "'block_settings.InvertedResidual.variant' is not in conf/ yet (block_settings is empty): add it with "
     "+block_settings.InvertedResidual.variant=uniform"),
    (["macro.train={recipe:blox}"], "'macro.train.recipe' is not in conf/ yet: add it with +macro.train={recipe:blox}"),
    (["+macro.train={epoch:3}"], "unknown setting 'macro.train.epoch'; did you mean 'macro.train.epochs'?"),
    (["+block_settings={InvertedResidual:{trian:{}}}"], "did you mean 'block_settings.InvertedResidual.train'?"),
    (["+block_settings={InvertedResidual:{train:{epoch:3}}}"],
     "did you mean 'block_settings.InvertedResidual.train.epochs'?"),
    (["cells=[ResNetBasicBlock]"], "cells is computed from zoo, block, positions and block_settings; set those"),
    (["conf_digest=0"], "conf_digest is computed from the files under conf/"),
]
ACCEPTED_SILENTLY = [
    (["+block_settings={InvertedResidul:{variant:uniform}}"],
     "block_settings names 'InvertedResidul', which is not a block of this run (zoo, block); "
     "did you mean 'block_settings.InvertedResidual'?"),
    (["+block_settings={RepMixer:{train:{lr:0.1}}}"],
     "block_settings names 'RepMixer', which is not a block of this run"),
    (["zoo=[]"], "zoo is empty, so this run would measure the baseline network alone"),
    (["seeds=[]"], "seeds is empty, so no cell would be trained"),
    (["seeds=[0,0]"], "seeds lists 0 twice; list each once"),
    (["positions=[mid,mid]"], "positions lists 'mid' twice"),
    (["zoo=[InvertedResidual,InvertedResidual]"], "zoo lists 'InvertedResidual' twice"),
    (["seeds=[0,-1]"], "seeds must be a list of integers >= 0"),
    (["positions=[top]"], "positions: unknown position 'top'"),
    (["dynamic.cells=[ResNetBasicBlock,ResNetBasicBlock]"], "dynamic.cells lists 'ResNetBasicBlock' twice"),
    (["dynamic.cells=[ResNetBasicBlock]", "dynamic.gammas=[]"], "dynamic.gammas is empty, so dynamic.cells would not"),
    (["dynamic.cells=[ResNetBasicBlock]", "dynamic.seeds=[]"], "dynamic.seeds is empty"),
    (["dynamic.cells=[InvertedResidual-early]"], "dynamic.cells names 'InvertedResidual-early', which is not a block"),
    ([f"macro.archs=['{ARCH}','{ARCH}']"], f"macro.archs lists '{ARCH}' twice"),
    (["block=NoSuchBlock"], "block: unknown block 'NoSuchBlock'"),
    (["zoo=[ResNetBasicBlock,InvertedResidul]"], "zoo: unknown block 'InvertedResidul'; did you mean InvertedResidual"),
    (["+block_settings={MobileOneBlock:{variant:nope}}"],
     "block_settings.MobileOneBlock.variant: block MobileOneBlock has no variant 'nope'"),
]
NAMED_AS_GIVEN = [
    (["seeds=[]"], "seeds is empty"),  # not dynamic.seeds, which the user did not touch
    (["block="], "block: '' is not a block name"),
    (["+block_settings={InvertedResidual:{train:{lr:-1}}}"],
     "block_settings.InvertedResidual.train.lr must be a positive number"),
    (["+macro.train={recipe:adamw}"], "macro.train.recipe must be one of sgd, blockzoo, blox, got 'adamw'"),
    (["dynamic.cells=[ResNetBasicBlock]", "dynamic.seeds=[7]"], "dynamic.seeds names seed 7, which seeds does not"),
]
CASES = [*STAGE_WOULD_REJECT, *UNKNOWN_KEYS, *ACCEPTED_SILENTLY, *NAMED_AS_GIVEN]


@pytest.fixture(scope="module")
def repo(tmp_path_factory, debian_fashion_mnist) -> Path:
    setting = {"zoo": ZOO, "positions": ["mid", "late"], "seeds": [0, 1],
               "scaffold": {"num_blocks": 1, "base_channels": 8},
               "data": {"dataset": "fashion-mnist", "archive": str(debian_fashion_mnist)}}
    repo = make_repo(tmp_path_factory.mktemp("bad-settings") / "repo", setting)
    (repo / "data" / "fashion-mnist").mkdir(parents=True)
    (repo / "data" / "fashion-mnist" / "placeholder").write_text("a dataset already fetched\n")
    return repo


def digests(repo: Path) -> dict[str, str]:
    """params.yaml and everything under data/."""
    files = [repo / "params.yaml", *sorted(p for p in (repo / "data").rglob("*") if p.is_file())]
    return {str(path.relative_to(repo)): hashlib.sha256(path.read_bytes()).hexdigest() for path in files}


def composed(repo: Path, overrides: list[str], capsys) -> tuple[int, str]:
    """`python scripts/compose_params.py OVERRIDE...` in this process: its exit status and the line it printed."""
    status = compose_params.main(overrides, root=repo)
    err = capsys.readouterr().err
    return status, err


@pytest.mark.parametrize("overrides,message", CASES, ids=[" ".join(case[0]) for case in CASES])
def test_a_bad_override_is_one_line_and_touches_nothing(repo, overrides, message, capsys):
    before = digests(repo)
    status, err = composed(repo, overrides, capsys)
    assert status == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err, err
    assert digests(repo) == before


def test_good_overrides_compose(repo, capsys, tmp_path):
    """Settings the checks must not refuse: another seed with no dynamic run, a block beside the baseline with
    block_settings for a zoo block it does not run, the baseline's training settings with the baseline out of the
    zoo (its network is always trained), a variant."""
    for overrides in (["seeds=[3]"], ["block=RepMixer", "+block_settings={InvertedResidual:{variant:uniform}}"],
                      ["zoo=[RepMixer]", "+block_settings={ResNetBasicBlock:{train:{lr:0.1}}}"],
                      ["+block_settings={InvertedResidual:{variant:uniform,train:{lr:0.05}}}"]):
        compose_params.compose(overrides, repo, output=tmp_path / "params.yaml")
    assert "InvertedResidual.uniform-late" in yaml.safe_load((tmp_path / "params.yaml").read_text())["cells"]


@pytest.mark.parametrize("key,value,message", [
    ("train", {"epoch": 3}, "unknown setting 'train.epoch'; did you mean 'train.epochs'?"),
    ("block", "NoSuchBlock", "block: unknown block 'NoSuchBlock'"),
    ("zoo", [], "zoo is empty"),
    ("seeds", [1, 1], "seeds lists 1 twice"),
    ("block_settings", {"InvertedResidul": {"variant": "uniform"}}, "did you mean 'block_settings.InvertedResidual'?"),
    ("data", {"archive": "/nonexistent"}, "data.archive /nonexistent does not exist"),
    ("zoo", "[", "a file under conf/ is not valid YAML"),
])
def test_a_bad_conf_edit_is_one_line_and_touches_nothing(repo, key, value, message, capsys):
    setting_file = repo / "conf" / "setting" / "default.yaml"
    setting = setting_file.read_text()
    edited = yaml.safe_load(setting)
    edited[key] = {**edited[key], **value} if isinstance(value, dict) and key in edited else value
    text = "# @package _global_\n" + yaml.safe_dump(edited)
    setting_file.write_text(text.replace("zoo: '['", "zoo: [") if value == "[" else text)
    before = digests(repo)
    try:
        status, err = composed(repo, [], capsys)
    finally:
        setting_file.write_text(setting)
    assert status == 2 and err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert digests(repo) == before


@pytest.mark.parametrize("overrides,message", STAGE_WOULD_REJECT, ids=[" ".join(c[0]) for c in STAGE_WOULD_REJECT])
def test_the_cells_stage_check_rejects_what_a_later_stage_would(repo, overrides, message, tmp_path):
    """What stages/cells.py runs on params.yaml (a params.yaml written by hand, or by a `dvc exp run` whose
    composition cannot check, reaches it): PipelineSettings.from_params, then check_with_the_library."""
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for override in overrides:
        key, _, value = override.partition("=")
        *parents, leaf = key.split(".")
        node = params
        for parent in parents:
            node = node[parent]
        node[leaf] = yaml.safe_load(value)
    with pytest.raises(BlockzooError) as info:
        settings = PipelineSettings.from_params(params)
        settings.check_with_the_library()
    assert message in str(info.value) and "\n" not in str(info.value)


def test_dvc_stops_on_a_bad_data_archive_before_it_removes_the_dataset(repo):
    """`dvc repro download` with a data.archive the download stage would reject: the cells stage runs first and
    stops with one line; the dataset's folder DVC would have removed is still there, and download never ran."""
    (repo / "pipeline").mkdir(exist_ok=True)
    (repo / "pipeline" / "data.json").write_text("{}\n")
    dvc(repo, "commit", "-f", "download")  # the dataset fetched before (a placeholder here)
    git_commit_all(repo, "fetched")
    params = (repo / "params.yaml").read_text()
    archive = yaml.safe_load(params)["data"]["archive"]
    (repo / "params.yaml").write_text(params.replace(f"archive: {archive}", "archive: /nonexistent"))
    before = digests(repo)
    try:
        proc = dvc(repo, "repro", "download", check=False)
    finally:
        (repo / "params.yaml").write_text(params)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Running stage 'download'" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert errors == ["error: data.archive /nonexistent does not exist; point data.archive (--data-archive) at the "
                      "downloaded folder holding the four Fashion-MNIST *-ubyte.gz files"], output
    assert "Traceback" not in output
    before.pop("params.yaml")
    after = digests(repo)
    after.pop("params.yaml")
    assert after == before and (repo / "data" / "fashion-mnist" / "placeholder").is_file()


@pytest.mark.parametrize("override,message", [
    ("train.epoch=3", "ERROR: unknown setting 'train.epoch'; did you mean 'train.epochs'?"),
    ("setting=tryuot",
     "ERROR: unknown setting=tryuot: conf/setting/ has no tryuot.yaml; did you mean 'setting=tryout'?"),
    # a value the cells stage would reject, rejected before DVC writes params.yaml (conf/hydra_plugins/)
    ("block=NoSuchBlock", "ERROR: block: unknown block 'NoSuchBlock'; did you mean DYMicroBlock, ResNetBasicBlock, "
     "MBConvLNBlock? registered blocks: DYMicroBlock, EdgeResidual, GhostBottleneckV3, InvertedResidual, "
     "MBConvLNBlock, MobileOneBlock, RepMixer, ReparamLargeKernelConv, ResNetBasicBlock, ResNetBottleneck, "
     "UniversalInvertedBottleneck (a block of your own must be registered with @register_block in a module under "
     "user_blocks/, or named with --block-module)"),
    ("train.batch_size=0", "ERROR: train.batch_size must be an integer from 1 to 8192 (images per batch), got 0"),
])
def test_dvc_exp_run_says_a_bad_setting_in_one_line_and_writes_nothing(repo, override, message):
    before = digests(repo)
    proc = dvc(repo, "exp", "run", "-S", override, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0 and [line for line in output.splitlines() if line.strip()] == [message], output
    assert digests(repo) == before
