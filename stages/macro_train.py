"""Stage `macro_train@<arch>-<seed>`: train one macro architecture for one seed, with `train` and `macro.train` on
top, as a block's cell is trained.
Usage (dvc.yaml): python stages/macro_train.py ARCH SEED RUN_DIR RECORD_JSON CURVES_DIR DATA_DIR"""
from __future__ import annotations

import sys

from macro_stage import macro_cell_from_params
from train import publish_curves

from common import ROOT, cli_errors, stage_params
from run_dir import training_into

from blockzoo import results
from blockzoo.settings import DataSettings, train_settings


@cli_errors
def main(cell: str, seed: str, run_dir: str, record_json: str, curves_dir: str, data_dir: str) -> None:
    params = stage_params()
    macro = macro_cell_from_params(cell, params)
    settings = train_settings(params["train"], params["cell_train"], where="macro.train.")
    from blockzoo.train.run import train

    with training_into(ROOT / run_dir) as work:
        record = train(macro, settings, DataSettings.from_dict(params["data"]), seed=int(seed), out_dir=work,
                       data_dir=ROOT / data_dir)
    publish_curves(ROOT / run_dir, ROOT / curves_dir)
    results.write_record(ROOT / record_json, record)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
