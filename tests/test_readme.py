"""The numbers the README and docs/ state, checked against the code and conf/ where the code decides them;
and every relative link in them resolving to a file of the repository."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from blockzoo.names import pipeline_cells

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
README = (ROOT / "README.md").read_text()
# every page as one line, so a phrase the text wraps is still found
TEXT = {page.relative_to(ROOT).as_posix(): " ".join(page.read_text().split()) for page in PAGES}
ALL = " ".join(TEXT.values())
# pages other branches write; linked already, absent until they are merged (then this set is emptied)
WRITTEN_ELSEWHERE: set[str] = set()


def conf(name: str) -> dict:
    return yaml.safe_load((ROOT / "conf" / name).read_text())


def runs_of(settings: dict, zoo: list[str]) -> tuple[int, int]:
    """(distinct networks, training runs) the pipeline makes from these settings."""
    cells = pipeline_cells(zoo, settings["block"], settings["positions"], settings.get("block_settings"))
    return len(cells), len(cells) * len(settings["seeds"])


DEFAULT = conf("config.yaml")
TRYOUT = {**DEFAULT, **conf("setting/tryout.yaml")}
REFERENCE = yaml.safe_load((ROOT / "reference" / "fashion-mnist" / "params.yaml").read_text())


def test_the_default_settings_counts():
    zoo, positions, seeds = (len(DEFAULT[key]) for key in ("zoo", "positions", "seeds"))
    networks, runs = runs_of(DEFAULT, DEFAULT["zoo"])
    assert (zoo, positions, seeds, networks, runs) == (11, 3, 5, 31, 155)  # what the front page says
    assert f"all {zoo} blocks x {positions} positions x {seeds} seeds, {DEFAULT['train']['epochs']} epochs each" in ALL
    assert f"{runs} training runs ({networks} networks x {seeds} seeds)" in TEXT["README.md"]
    assert f"the zoo's {zoo} blocks" in TEXT["README.md"]


def test_the_tryout_counts():
    networks, runs = runs_of(TRYOUT, DEFAULT["zoo"])
    train = TRYOUT["train"]
    stated = (f"trains {networks} networks (the baseline, {TRYOUT['block']} at {len(TRYOUT['positions'])} positions): "
              f"{runs} training runs of {train['epochs']} epochs of {train['limit_train_batches']} batches of "
              f"{train['batch_size']}")
    assert stated in TEXT["README.md"]


def test_the_reference_run_counts_are_its_params():
    scaffold, train = REFERENCE["scaffold"], REFERENCE["train"]
    networks, seeds = len(REFERENCE["cells"]), len(REFERENCE["seeds"])
    zoo, positions = len(REFERENCE["zoo"]), len(REFERENCE["positions"])
    front = TEXT["README.md"]
    assert f"all {zoo} blocks x {positions} positions ({networks} distinct networks" in front
    assert f"{seeds} seeds each, on Fashion-MNIST" in front and REFERENCE["data"]["dataset"] == "fashion-mnist"
    assert f"narrow scaffold ({scaffold['num_blocks']} block per stage, {scaffold['base_channels']} channels)" in front
    assert f"({train['epochs']} epochs of {train['limit_train_batches']} batches of {train['batch_size']})" in front
    assert f"{networks * seeds} training runs" in TEXT["docs/measurements.md"]


def test_every_count_of_training_runs_networks_and_epochs_is_one_the_settings_make():
    runs: dict[int, list[dict]] = {}  # training runs -> the settings that make that many (two may: 31 x 5 seeds)
    for count, settings in ((runs_of(DEFAULT, DEFAULT["zoo"])[1], DEFAULT),
                            (runs_of(TRYOUT, DEFAULT["zoo"])[1], TRYOUT),
                            (len(REFERENCE["cells"]) * len(REFERENCE["seeds"]), REFERENCE)):
        runs.setdefault(count, []).append(settings)
    stated = {int(n) for n in re.findall(r"(\d+) training runs", ALL)}
    assert stated and stated <= set(runs), stated - set(runs)
    for count, epochs in re.findall(r"(\d+) training runs of (\d+) epochs", ALL):
        assert int(epochs) in {s["train"]["epochs"] for s in runs[int(count)]}, (count, epochs)
    distinct = {int(n) for n in re.findall(r"(\d+) distinct networks", ALL)}
    assert distinct == {runs_of(DEFAULT, DEFAULT["zoo"])[0]} == {len(REFERENCE["cells"])}, distinct


def test_the_zoo_table_is_the_zoo():
    rows = re.findall(r"^\| (\w+) \| (?:timm|`blockzoo/)", (ROOT / "docs" / "zoo.md").read_text(), flags=re.M)
    assert rows == DEFAULT["zoo"]


def test_the_scaffold_and_blox_sizes_stated():
    from blockzoo import ScaffoldNet
    from blockzoo.macro.blox import unique_blox_cells

    params = sum(p.numel() for p in ScaffoldNet("ResNetBasicBlock", "early").parameters())
    assert params == 4_528_996 and f"{params:,} parameters" in TEXT["docs/zoo.md"]
    assert f"{params:,} parameters" in TEXT["docs/commands.md"]
    cells = len(unique_blox_cells())
    assert f"{cells} unique cells, {cells}^3 = {cells ** 3:,} networks" in TEXT["docs/macro.md"]


def test_the_single_commands_say_which_scaffold_they_build():
    from blockzoo.cli import SCAFFOLD_OPTIONS

    text = TEXT["docs/commands.md"]
    assert (f"{SCAFFOLD_OPTIONS['num_blocks']} blocks per stage, {SCAFFOLD_OPTIONS['base_channels']} channels "
            "in the early stage") in text
    narrow = f"--num-blocks {TRYOUT['scaffold']['num_blocks']} --base-channels {TRYOUT['scaffold']['base_channels']}"
    assert narrow in text
    commands = re.findall(r"python -m blockzoo\.(profile|benchmark|train|costs)\b(.*?)(?=#|```|python -m)", text)
    assert {name for name, _ in commands} == {"profile", "benchmark", "train", "costs"}
    assert all(narrow in " ".join(args.replace("\\", " ").split()) for _, args in commands), commands


def test_the_tryout_time_is_stated_once_everywhere():
    tryout_yaml = (ROOT / "conf" / "setting" / "tryout.yaml").read_text()
    times = set(re.findall(r"took ([\d.]+) min", TEXT["README.md"] + TEXT["docs/setup.md"]))
    times |= set(re.findall(r"([\d.]+) min on a 2-core CPU", tryout_yaml))
    times |= set(re.findall(r"setting=tryout` \(6 training runs\) \| ([\d.]+) min", TEXT["docs/measurements.md"]))
    assert len(times) == 1, times
    assert "few minutes" not in tryout_yaml.lower() and "few minutes" not in ALL.lower()


def test_one_spelling_of_a_cell_and_of_the_cluster_command():
    assert not re.findall(r"\b[A-Z]\w*(?:\.\w+)?@(?:early|mid|late)\b", ALL)  # a cell is RepMixer-mid
    assert "blockzoo.cluster" not in ALL  # the runner is its own package: python -m blockzoo_cluster
    assert "knows nothing of DVC" not in ALL and "knows DVC" not in ALL


def test_the_front_page_is_one_screen():
    first = "\n".join(README.splitlines()[:60])
    for needed in ("CIFAR-100", "Fashion-MNIST", "reference/fashion-mnist/figures/", "What this is", "What it is not",
                   "make run", "make test", "dvc exp run -S setting=tryout", "dvc exp run -S block=MyBlock",
                   "dvc metrics show", "## Documentation"):
        assert needed in first, needed
    linked = set(re.findall(r"\]\((docs/[\w.-]+\.md)", README))
    assert {f"docs/{page.name}" for page in (ROOT / "docs").glob("*.md")} <= linked


LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """GitHub's anchors of a Markdown page's headings."""
    headings = re.findall(r"^#+ (.+)$", re.sub(r"```.*?```", "", page.read_text(), flags=re.S), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(page):
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):
            continue  # a web address
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        name = file.relative_to(ROOT).as_posix() if file.is_relative_to(ROOT) else str(file)
        if name in WRITTEN_ELSEWHERE and not file.exists():
            continue
        assert file.is_file(), f"{page.name}: {target} is not a file of the repository"
        if anchor and file.suffix == ".md":
            assert anchor in anchors(file), f"{page.name}: {target}: no heading makes #{anchor}"
