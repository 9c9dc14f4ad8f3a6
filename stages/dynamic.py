"""Stage `dynamic@<cell>-<seed>-<gamma>`: BlockDrop on one trained cell (docs/blockdrop.md): a block cell, or a
zoo network of the macro cells (A+B+C, e.g. BlockDrop's ResNet-110: ResNetBasicBlock.cifar in every stage).

Usage (dvc.yaml): python stages/dynamic.py CELL SEED GAMMA TRAIN_RUN_DIR RUN_DIR RECORD_JSON PLOTS_DIR DATA_DIR
TRAIN_RUN_DIR is the cell's training run (its best checkpoint); RUN_DIR holds this run's checkpoints and
log (cached; trained in .unfinished/RUN_DIR, where a killed run resumes: stages/run_dir.py); RECORD_JSON and
PLOTS_DIR (curves and the images grouped by blocks used) are small and tracked by git.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

from macro_stage import macro_cell_from_params

from cell_stage import cell_from_params
from common import ROOT, BlockzooError, cli_errors, stage_params
from run_dir import training_into

from blockzoo import atomic, results
from blockzoo.names import is_macro_cell
from blockzoo.settings import DataSettings, DynamicSettings


@cli_errors
def main(cell: str, seed: str, gamma: str, train_run: str, run_dir: str, record_json: str, plots_dir: str,
         data_dir: str) -> None:
    params = stage_params()
    settings = DynamicSettings.from_dict({**params["dynamic"], "cells": [], "seeds": [0], "gammas": [float(gamma)]})
    data = DataSettings.from_dict(params["data"])
    from blockzoo.dynamic.run import train_dynamic

    if cell.startswith("blox-"):
        raise BlockzooError(f"dynamic.cells names {cell}, a BLOX network: BlockDrop needs the zoo's residual blocks; "
                            "name a block cell or a zoo network A+B+C")
    network = macro_cell_from_params(cell, params) if is_macro_cell(cell) else cell_from_params(cell, params)
    with training_into(ROOT / run_dir) as work:
        record = train_dynamic(network, ROOT / train_run / "checkpoints" / "best.ckpt",
                               settings, data, gamma=float(gamma), seed=int(seed), out_dir=work,
                               data_dir=ROOT / data_dir)
    plots = ROOT / plots_dir
    plots.mkdir(parents=True, exist_ok=True)
    for tsv in sorted((ROOT / run_dir / "live" / "plots" / "metrics").glob("*.tsv")):
        atomic.write_text(plots / tsv.name, tsv.read_text())
    with atomic.atomic_path(plots / "images_by_blocks.png") as tmp:
        shutil.copyfile(Path(ROOT / run_dir / "images_by_blocks.png"), tmp)
    results.write_record(ROOT / record_json, record)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
