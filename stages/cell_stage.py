"""Wiring shared by the cell stages (profile, benchmark, train): a Cell from its spec and the stage's params."""
from __future__ import annotations

from common import ROOT, BlockzooError


def scaffold_from_params(name: str, params: dict):
    """The scaffold of a cell stage (from `scaffold` and `data.dataset`), after importing the block modules
    the cell's spec names (pipeline/cells/<cell>.json, written by the cells stage)."""
    from blockzoo.blocks.registry import import_block_modules
    from blockzoo.data.catalogue import get_dataset_info
    from blockzoo.settings import ScaffoldSpec

    spec = params["cell"]
    if spec["name"] != name:
        raise BlockzooError(f"pipeline/cells/{name}.json describes cell {spec['name']}; run `dvc repro cells`")
    import_block_modules([ROOT / block["source"] for block in spec["blocks"].values() if block["user"]])
    return ScaffoldSpec.for_dataset(params["scaffold"], get_dataset_info(params["data"]["dataset"]))


def cell_from_params(name: str, params: dict):
    """The Cell `name` (a block at a position) of a cell stage."""
    from blockzoo.cell import Cell

    return Cell.from_name(name, scaffold_from_params(name, params))
