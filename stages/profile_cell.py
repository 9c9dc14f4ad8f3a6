"""Stage `profile@<cell>` (named profile_cell: `profile` is a standard-library module): parameters, FLOPs and
memory of one cell. Usage (dvc.yaml): python stages/profile_cell.py CELL OUT_JSON"""
from __future__ import annotations

import sys

from cell_stage import cell_from_params
from common import ROOT, cli_errors, stage_params

from blockzoo import results
from blockzoo.profile.measure import profile_cell
from blockzoo.settings import ProfileSettings


@cli_errors
def main(cell: str, out: str) -> None:
    params = stage_params()
    record = profile_cell(cell_from_params(cell, params), ProfileSettings.from_dict(params["profile"]))
    results.write_record(ROOT / out, record)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
