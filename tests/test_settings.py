"""Settings: every key of params.yaml checked with one line naming the closest key; the cells a run
measures; params.yaml composed from conf/; every stage depending on every project file it imports."""
from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from blockzoo.errors import BlockzooError
from blockzoo.names import parse_cell, pipeline_cells
from blockzoo.params import PipelineSettings
from blockzoo.settings import ScaffoldSpec, TrainSettings

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "scripts"), str(ROOT / "stages")]
import compose_params  # noqa: E402
import stage_deps  # noqa: E402
from conf_digest import conf_digest  # noqa: E402


def committed(path: str) -> str:
    """A file as committed (HEAD): `dvc exp run` applies its experiment's params.yaml to the workspace."""
    shown = subprocess.run(["git", "show", f"HEAD:{path}"], cwd=ROOT, capture_output=True, text=True)
    return shown.stdout if shown.returncode == 0 else (ROOT / path).read_text()  # not a git checkout: the file


PARAMS = yaml.safe_load(committed("params.yaml"))


def with_change(path: str, value) -> dict:
    params = copy.deepcopy(PARAMS)
    *parents, leaf = path.split(".")
    node = params
    for parent in parents:
        node = node.setdefault(parent, {})
    node[leaf] = value
    return params


def test_the_committed_params_are_valid():
    settings = PipelineSettings.from_params(PARAMS)
    assert settings.train_settings(None) == TrainSettings()
    assert ScaffoldSpec.for_dataset(
        settings.scaffold, __import__("blockzoo.data.catalogue").data.catalogue.DATASETS["cifar100"]
    ) == ScaffoldSpec()


def test_the_committed_params_are_composed_from_conf(tmp_path):
    composed = tmp_path / "params.yaml"
    compose_params.compose([], output=composed)
    assert composed.read_text() == committed("params.yaml"), "run `make params` and commit params.yaml"
    assert PARAMS["conf_digest"] == conf_digest(ROOT / "conf")


@pytest.mark.parametrize("path,value,message", [
    ("epochs", 5, "unknown setting 'epochs'; did you mean 'train.epochs'?"),
    ("zooo", [], "unknown setting 'zooo'; did you mean 'zoo'?"),
    ("data.val_sz", 10, "unknown setting 'data.val_sz'; did you mean 'data.val_size'?"),
    ("scaffold.width", 3, "unknown setting 'scaffold.width'; valid: base_channels, num_blocks"),
    ("train.epoch", 3, "unknown setting 'train.epoch'; did you mean 'train.epochs'?"),
    ("train.seed", 5, "train.seed is not a setting: the seeds trained are the top-level list `seeds`"),
    ("train.lr", "abc", "train.lr must be a number or null, got 'abc'"),
    ("train.batch_size", 0, "train.batch_size must be a positive integer, got 0"),
    ("train.label_smoothing", 1.5, "train.label_smoothing must be in [0, 1), got 1.5"),
    ("train.precision", "fp8", "train.precision must be one of 'auto', '32-true'"),
    ("train.device", "tpu", "train.device must be auto, cpu, cuda or cuda:N"),
    ("train.channels_last", "yes", "train.channels_last must be true or false or null, got 'yes'"),
    ("data.dataset", "imagenet", "data.dataset must be one of cifar100, cifar10, fashion-mnist"),
    ("profile.memory_batch_size", 0, "profile.memory_batch_size must be a positive integer, got 0"),
    ("profile.device", None, "profile.device must be set"),
    ("macro.sample_space", "nas", "macro.sample_space must be one of 'blox', 'zoo'"),
    ("macro.archs", ["[[0]"], "is not a BLOX arch vector"),
    ("macro.train", {"recipe": "adamw"}, "macro.train.recipe must be one of sgd, blockzoo, blox"),
    ("benchmark.dtype", "int8", "benchmark.dtype must be one of 'float32'"),
    ("benchmark.repetas", 3, "unknown setting 'benchmark.repetas'; did you mean 'benchmark.repeats'?"),
    ("block_settings.RepMixer.trian", {},
     "unknown setting 'block_settings.RepMixer.trian'; did you mean 'block_settings.RepMixer.train'?"),
    ("block_settings.RepMixer.train", {"lr": -1}, "block_settings.RepMixer.train.lr must be a positive number, got -1"),
    ("block_settings.RepMixer.train", {"epoch": 3}, "did you mean 'block_settings.RepMixer.train.epochs'?"),
    ("positions", ["early", "top"], "positions: unknown position 'top'"),
    ("seeds", [0, -1], "seeds must be a list of integers >= 0"),
    ("zoo", ["Res-Net"], "zoo: 'Res-Net' is not a block name"),
    ("cells", ["ResNetBasicBlock"], "params.yaml's cells do not follow from its zoo"),
])
def test_every_bad_key_or_value_is_one_line(path, value, message):
    with pytest.raises(BlockzooError) as info:
        PipelineSettings.from_params(with_change(path, value))
    assert message in str(info.value) and "\n" not in str(info.value)


def test_cells_keep_the_baseline_once_and_follow_the_block_setting():
    zoo, positions = ["ResNetBasicBlock", "RepMixer", "InvertedResidual"], ["early", "late"]
    assert pipeline_cells(zoo, "all", positions) == [
        "ResNetBasicBlock", "RepMixer-early", "RepMixer-late", "InvertedResidual-early", "InvertedResidual-late"]
    assert pipeline_cells(zoo, "GhostBottleneckV3", positions) == [
        "ResNetBasicBlock", "GhostBottleneckV3-early", "GhostBottleneckV3-late"]  # NAME beside the baseline
    assert pipeline_cells(zoo, "ResNetBasicBlock", positions) == ["ResNetBasicBlock"]
    assert pipeline_cells(zoo, "all", positions, {"InvertedResidual": {"variant": "uniform"}})[-1] == \
        "InvertedResidual.uniform-late"
    assert pipeline_cells(zoo, "all", ["mid"], {"ResNetBasicBlock": {"variant": "identity"}}) == [
        "ResNetBasicBlock", "ResNetBasicBlock.identity-mid", "RepMixer-mid", "InvertedResidual-mid"]
    assert parse_cell("InvertedResidual.uniform-late") == ("InvertedResidual.uniform", "late")
    assert parse_cell("ResNetBasicBlock") == ("ResNetBasicBlock", None)
    with pytest.raises(ValueError):
        parse_cell("RepMixer")


def test_every_stage_depends_on_every_project_file_it_imports():
    missing = stage_deps.missing_deps()
    assert not any(missing.values()), "dvc.yaml misses: " + "; ".join(
        f"{stage}: {', '.join(files)}" for stage, files in missing.items() if files)


def test_the_dependency_check_names_what_a_stage_misses(tmp_path):
    for name in ("blockzoo", "stages", "scripts"):
        (tmp_path / name).symlink_to(ROOT / name)
    dvc_yaml = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    dvc_yaml["stages"]["benchmark"]["deps"].remove("blockzoo/environment.py")
    dvc_yaml["stages"]["train"]["deps"].remove("blockzoo/train")
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(dvc_yaml))
    missing = stage_deps.missing_deps(tmp_path)
    assert missing["benchmark"] == ["blockzoo/environment.py"]
    assert missing["train"] == ["blockzoo/train/__init__.py", "blockzoo/train/allocator.py", "blockzoo/train/module.py",
                                "blockzoo/train/recipes.py",
                                "blockzoo/train/run.py"]
    assert not missing["profile"]
    dvc_yaml["stages"]["profile"]["deps"].append("blockzoo/train/recipes.py")  # a dep it does not import
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(dvc_yaml))
    assert stage_deps.unneeded_deps(tmp_path)["profile"] == ["blockzoo/train/recipes.py"]


def test_a_recipe_edit_changes_the_train_cells_only(tmp_path):
    """The training schedules are imported by the train stages alone: editing one leaves every profile, benchmark
    and noise-check cell up to date in DVC's own status (each stage committed with placeholder outputs)."""
    from pipeline_repo import dvc, make_repo

    repo = make_repo(tmp_path / "repo", {
        "zoo": ["ResNetBasicBlock", "MobileOneBlock"], "positions": ["mid"], "seeds": [0],
        "data": {"dataset": "fashion-mnist", "archive": "/usr/share/datasets/fashion-mnist"}})
    cells = ["ResNetBasicBlock", "MobileOneBlock-mid"]
    outs = ["pipeline/data.json", "data/fashion-mnist/placeholder", "metrics/noise/ResNetBasicBlock-mid.json"]
    for cell in cells:
        outs += [f"pipeline/cells/{cell}.json", f"metrics/profile/{cell}.json", f"metrics/benchmark/{cell}.json",
                 f"runs/{cell}-s0/placeholder", f"metrics/train/{cell}-s0.json", f"plots/curves/{cell}-s0/placeholder"]
    for out in outs:
        (repo / out).parent.mkdir(parents=True, exist_ok=True)
        (repo / out).write_text('{"cell": {}, "cell_train": {}}')
    stages = ["download", "cells", "profile", "benchmark", "noise_check", "train"]
    dvc(repo, "commit", "-f", *stages)

    def changed() -> set[str]:
        return set(json.loads(dvc(repo, "status", "--json", *stages).stdout or "{}"))

    assert changed() == set()
    recipes = repo / "blockzoo" / "train" / "recipes.py"
    recipes.write_text(recipes.read_text().replace("momentum=0.9, weight_decay", "momentum=0.8, weight_decay", 1))
    assert changed() == {f"train@{cell}-0" for cell in cells}


def test_the_recipe_settings_name_every_recipe():
    from blockzoo.settings import RECIPE_NAMES
    from blockzoo.train.recipes import RECIPES

    assert set(RECIPE_NAMES) == set(RECIPES) and all(recipe.name == name for name, recipe in RECIPES.items())
