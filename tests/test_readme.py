"""The numbers the README states, checked against the code and conf/ where the code decides them."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from blockzoo.names import pipeline_cells

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def conf(name: str) -> dict:
    return yaml.safe_load((ROOT / "conf" / name).read_text())


def test_the_training_runs_and_networks_the_readme_counts_are_the_pipelines():
    config = conf("config.yaml")
    cells = pipeline_cells(config["zoo"], config["block"], config["positions"])
    runs = len(cells) * len(config["seeds"])
    assert (len(config["zoo"]), len(config["positions"]), len(config["seeds"]), len(cells), runs) == (11, 3, 5, 31, 155)
    zoo, positions, seeds = (len(config[key]) for key in ("zoo", "positions", "seeds"))
    assert f"all {zoo} blocks x {positions} positions x {seeds} seeds" in README
    stated = {int(n) for n in re.findall(r"(\d+) training runs", README)}
    tryout = conf("setting/tryout.yaml")
    tryout_cells = pipeline_cells(config["zoo"], tryout["block"], tryout["positions"])
    tryout_runs = len(tryout_cells) * len(tryout["seeds"])
    assert stated == {runs, tryout_runs}, stated  # the default's, the try-out's: no other count
    assert f"{len(cells)} distinct networks" in README
    train = tryout["train"]
    assert (f"{len(tryout_cells)} networks" in README and f"{tryout_runs} training runs of {train['epochs']} epochs of "
            f"{train['limit_train_batches']} batches\nof {train['batch_size']}" in README)


def test_the_scaffold_and_blox_sizes_the_readme_states():
    from blockzoo import ScaffoldNet
    from blockzoo.macro.blox import unique_blox_cells

    params = sum(p.numel() for p in ScaffoldNet("ResNetBasicBlock", "early").parameters())
    assert f"{params:,} parameters" in README and params == 4_528_996
    cells = len(unique_blox_cells())
    assert f"{cells} unique cells, {cells}^3 = {cells ** 3:,} networks" in README
