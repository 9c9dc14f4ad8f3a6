"""Stage `train@<cell>-<seed>`: train one cell for one seed.

Usage (dvc.yaml): python stages/train.py CELL SEED RUN_DIR RECORD_JSON CURVES_DIR DATA_DIR
RUN_DIR holds the checkpoints and the curve log (cached by DVC; trained in .unfinished/RUN_DIR, where a
killed run resumes: stages/run_dir.py); RECORD_JSON and CURVES_DIR (the per-epoch curves) are small and
tracked by git.
"""
from __future__ import annotations

import sys

from cell_stage import cell_from_params
from common import ROOT, cli_errors, stage_params
from run_dir import training_into

from blockzoo import atomic, results
from blockzoo.names import split_block_spec
from blockzoo.settings import DataSettings, train_settings


def publish_curves(run_dir, target) -> None:
    """Copy the run's per-epoch TSVs to the git-tracked curves folder."""
    target.mkdir(parents=True, exist_ok=True)
    for tsv in sorted((run_dir / "live" / "plots" / "metrics").glob("*.tsv")):
        atomic.write_text(target / tsv.name, tsv.read_text())


@cli_errors
def main(cell: str, seed: str, run_dir: str, record_json: str, curves_dir: str, data_dir: str) -> None:
    params = stage_params()
    cell = cell_from_params(cell, params)
    settings = train_settings(params["train"], params["cell_train"], split_block_spec(cell.block)[0])
    data = DataSettings.from_dict(params["data"])
    from blockzoo.train.run import train

    with training_into(ROOT / run_dir) as work:
        record = train(cell, settings, data, seed=int(seed), out_dir=work, data_dir=ROOT / data_dir)
    publish_curves(ROOT / run_dir, ROOT / curves_dir)
    results.write_record(ROOT / record_json, record)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
