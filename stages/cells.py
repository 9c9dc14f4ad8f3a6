"""Stage `cells`: check every setting, then write one spec per cell: pipeline/cells/<cell>.json.

Every setting any stage can reject without running is checked here, and this stage runs first: the download
stage depends on DATA_JSON (the data source as checked, written here), every cell stage on its spec. So DVC
removes no stage's outputs (the dataset's folder among them) for a setting that a stage would then refuse.

A cell's spec names its network (which block at which stage, or which macro architecture) and
fingerprints what the network is made of: the source file of every block in it and the versions of the
libraries they come from. Each cell stage depends on its own spec (and only on it, of all the blocks'
code), so editing one block's file, or registering a new block module, re-runs only the cells whose
networks use those blocks. The cells of the run are `cells` (a block at a position) and `macro_cells`.
Usage (dvc.yaml): python stages/cells.py CONF_DIR USER_BLOCKS_DIR OUT_DIR DATA_JSON
"""
from __future__ import annotations

import hashlib
import sys

from common import ROOT, BlockzooError, cli_errors, stage_params
from conf_digest import conf_digest

from blockzoo import atomic
from blockzoo.names import split_block_spec


def block_fingerprint(spec: str) -> dict:
    import timm
    import torch

    from blockzoo.blocks.registry import get_block

    source = get_block(spec).source_file
    if not source.is_relative_to(ROOT):
        raise BlockzooError(f"block {spec} is defined in {source}, outside this repository, so DVC cannot see "
                            "changes to it; move its module under user_blocks/")
    return {
        "source": str(source.relative_to(ROOT)),
        "sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
        "user": not source.is_relative_to(ROOT / "blockzoo"),
        "libraries": {"torch": torch.__version__, "timm": timm.__version__},
    }


def cell_spec(cell, train_overrides: dict) -> dict:
    import torch

    blocks = sorted(set(cell.stage_blocks().values()))
    spec = {"name": cell.name, "block": cell.block, "position": cell.position, "stages": cell.stage_blocks(),
            "blocks": {spec: block_fingerprint(spec) for spec in blocks}}
    if getattr(cell, "space", None) == "blox":  # BLOX's own operations, not zoo blocks
        files = [ROOT / "blockzoo" / "macro" / name for name in ("blox.py", "bloxnet.py")]
        spec.update(space="blox", width=cell.width, torch=torch.__version__,
                    code={str(f.relative_to(ROOT)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files})
    return {"cell": spec, "cell_train": train_overrides}


@cli_errors
def main(conf_dir: str, user_blocks: str, out_dir: str, data_json: str) -> None:
    params = stage_params()
    from blockzoo.params import PipelineSettings
    from blockzoo.settings import DataSettings, ScaffoldSpec
    from blockzoo_cluster.settings import check_cluster_settings

    check_cluster_settings(params)  # the cluster runner's section, which the library's check leaves to the runner
    settings = PipelineSettings.from_params(params)
    if settings.conf_digest != conf_digest(ROOT / conf_dir):
        raise BlockzooError("conf/ changed after params.yaml was composed from it: run `dvc exp run` "
                            "(which composes params.yaml from conf/), or `make params` then `dvc repro`")
    from blockzoo.blocks.registry import import_block_modules, user_block_files
    from blockzoo.cell import Cell
    from blockzoo.macro.networks import macro_cell
    from blockzoo.settings import MacroSettings

    import_block_modules(user_block_files(ROOT / user_blocks))
    settings.check_with_the_library()
    data = DataSettings.from_dict(settings.data)
    scaffold = ScaffoldSpec.for_dataset(settings.scaffold, data.info)
    macro = MacroSettings.from_dict(settings.macro)
    out = ROOT / out_dir
    written = set()
    for name in settings.cells:
        cell = Cell.from_name(name, scaffold)
        try:
            cell.build()  # the block contract, checked once here before any cell runs
        except BlockzooError as exc:  # name the settings the network was built at
            raise BlockzooError(f"{exc} (at scaffold.num_blocks {scaffold.num_blocks}, scaffold.base_channels "
                                f"{scaffold.base_channels})") from None
        block, _ = split_block_spec(cell.block)
        atomic.write_json(out / f"{name}.json", cell_spec(cell, settings.block_settings_of(block).train or {}))
        written.add(f"{name}.json")
    for name in settings.macro_cells:
        cell = macro_cell(name, scaffold, macro.blox_width)
        cell.build()
        atomic.write_json(out / f"{name}.json", cell_spec(cell, macro.train or {}))
        written.add(f"{name}.json")
    for stale in out.glob("*.json"):
        if stale.name not in written:
            stale.unlink()
    atomic.write_json(ROOT / data_json, {"dataset": data.dataset, **data.fetch_options()})
    print(f"settings checked; {len(written)} cell specs in {out_dir}/")


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
