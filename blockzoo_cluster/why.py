"""What `dvc repro` would run now, and why: `python -m blockzoo_cluster why` (`make why`).

`dvc status` names the stages whose own inputs changed; after a block's file is edited that is only `cells`
(it depends on blockzoo/blocks and user_blocks/), because the cell stages depend on the spec each cell has
in pipeline/cells/, which the cells stage rewrites. So this computes the specs as the cells stage would write
them now and compares them with those in pipeline/cells/: a cell whose spec changes re-runs, with every stage
of it, for the block file (or the block's training settings) that changed.
"""
from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import yaml

from blockzoo_cluster.plan import Pipeline, is_cell


def spec_changes(old: dict | None, new: dict) -> list[str]:
    """Why a cell's spec changed, in words: the block files, the library versions, the settings; [] if equal."""
    if old is None:
        return ["a new cell (no spec in pipeline/cells/ yet)"]
    if old == new:
        return []
    reasons = []
    old_blocks, new_blocks = old.get("cell", {}).get("blocks", {}), new["cell"].get("blocks", {})
    for block, print_ in new_blocks.items():
        before = old_blocks.get(block)
        if before is None:
            reasons.append(f"{block} is new in it")
        elif before.get("sha256") != print_.get("sha256") or before.get("source") != print_.get("source"):
            reasons.append(f"{print_['source']} changed ({block})")
        elif before.get("libraries") != print_.get("libraries"):
            reasons.append(f"the library versions of {block} changed")
    if old.get("cell_train") != new.get("cell_train"):
        reasons.append("its block_settings train changed")
    if old.get("cell", {}).get("code") != new["cell"].get("code"):
        reasons.append("blockzoo/macro/blox.py or bloxnet.py changed")
    return reasons or ["its spec changed"]


def stage_module(root: Path, name: str):
    """A module of the checkout's stages/ (the stages are scripts, not a package)."""
    sys.path.insert(0, str(root / "stages"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(root / "stages"))


def specs_now(root: Path, params: dict) -> dict[str, dict]:
    """Each cell's spec as the cells stage would write it from `params` now (stages/cells.py's cell_spec)."""
    cells_stage = stage_module(root, "cells")
    from blockzoo.blocks.registry import import_block_modules, user_block_files
    from blockzoo.cell import Cell
    from blockzoo.macro.networks import macro_cell
    from blockzoo.names import split_block_spec
    from blockzoo.params import PipelineSettings
    from blockzoo.settings import DataSettings, MacroSettings, ScaffoldSpec

    settings = PipelineSettings.from_params(params)
    import_block_modules(user_block_files(root / "user_blocks"))
    scaffold = ScaffoldSpec.for_dataset(settings.scaffold, DataSettings.from_dict(settings.data).info)
    macro = MacroSettings.from_dict(settings.macro)
    specs = {}
    for name in settings.cells:
        cell = Cell.from_name(name, scaffold)
        block, _ = split_block_spec(cell.block)
        specs[name] = cells_stage.cell_spec(cell, settings.block_settings_of(block).train or {})
    for name in settings.macro_cells:
        specs[name] = cells_stage.cell_spec(macro_cell(name, scaffold, macro.blox_width), macro.train or {})
    return specs


def status_reason(changes: list) -> str:
    """DVC's status entry of a stage, in words: the files and settings that changed."""
    words = []
    for change in changes:
        if isinstance(change, str):
            words.append(change)  # "changed command", "always changed"
            continue
        for kind, what in change.items():
            if isinstance(what, dict):
                what = {key: value for key, value in what.items() if not key.startswith("pipeline/cells/")}
                if what:
                    named = [f"{key} ({value})" for key, value in what.items()]
                    more = f" and {len(named) - 4} more" if len(named) > 4 else ""
                    words.append(f"{kind.removeprefix('changed ')} {', '.join(named[:4])}{more}")
            else:
                words.append(f"{kind}: {what}")
    return "; ".join(words)


def explain(root: Path) -> list[str]:
    """The lines of the answer."""
    params = yaml.safe_load((root / "params.yaml").read_text()) or {}
    pipeline = Pipeline(root, [])
    try:
        status = pipeline.repo.status() or {}
        lines = []
        if params.get("conf_digest") != stage_module(root, "conf_digest").conf_digest(root / "conf"):
            lines.append("conf/ changed since params.yaml was composed: `dvc exp run` composes it again (and "
                         "`dvc repro` stops); below is what params.yaml as it is now runs")
        respec = {}
        if "cells" in status or not (root / "pipeline" / "cells").is_dir():
            folder = root / "pipeline" / "cells"
            for name, spec in specs_now(root, params).items():
                path = folder / f"{name}.json"
                reasons = spec_changes(json.loads(path.read_text()) if path.is_file() else None, spec)
                if reasons:
                    respec[name] = reasons
        deps = {}  # stage -> the cell whose spec it depends on
        for stage in pipeline.repo.index.stages:
            for dep in stage.deps:
                path = Path(dep.fs_path)
                if path.parent == root / "pipeline" / "cells" and path.stem in respec:
                    deps[stage.addressing] = path.stem
        import networkx as nx

        explained = set()
        for name, reasons in respec.items():
            stages = {stage for stage, cell in deps.items() if cell == name}
            stages |= {down for stage in stages for down in nx.ancestors(pipeline.graph, stage) if is_cell(down)}
            explained |= stages
            lines.append(f"{name}: {'; '.join(reasons)} -> {len(stages)} stages: {', '.join(sorted(stages))}")
        lock = root / "dvc.lock"
        locked = (yaml.safe_load(lock.read_text()) or {}).get("stages", {}) if lock.is_file() else {}
        groups: dict[tuple[str, str], list[str]] = {}
        for stage, changes in status.items():
            if stage in explained:
                continue
            reason = status_reason(changes) if stage in locked else "never run here (no entry in dvc.lock)"
            if stage == "cells":
                lines.insert(0, f"cells: {reason} (it rewrites the cell specs; the cells below re-run)")
            elif reason:
                groups.setdefault((stage.split("@")[0], reason), []).append(stage)
        for (kind, reason), stages in groups.items():
            if len(stages) == 1:
                lines.append(f"{stages[0]}: {reason}")
            else:
                more = ", ..." if len(stages) > 3 else ""
                lines.append(f"{kind} ({len(stages)} cells: {', '.join(stages[:3])}{more}): {reason}")
        if not lines:
            return ["nothing: every stage is up to date (`dvc repro` runs nothing)"]
        after = [stage for stage in status if not is_cell(stage) and stage not in ("cells", "download")]
        if respec and "aggregate" not in after:
            lines.append("aggregate: after the cells above")
        return ["`dvc repro` would run, and why:", *("  " + line for line in lines)]
    finally:
        pipeline.close()
