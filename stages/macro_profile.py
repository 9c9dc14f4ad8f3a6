"""Stage `macro_profile@<arch>`: parameters, FLOPs and memory of one macro architecture, as a block's cell is
profiled. Usage (dvc.yaml): python stages/macro_profile.py ARCH OUT_JSON"""
from __future__ import annotations

import sys

from macro_stage import macro_cell_from_params

from common import ROOT, cli_errors, stage_params

from blockzoo import results
from blockzoo.profile.measure import profile_cell
from blockzoo.settings import ProfileSettings


@cli_errors
def main(cell: str, out: str) -> None:
    params = stage_params()
    record = profile_cell(macro_cell_from_params(cell, params), ProfileSettings.from_dict(params["profile"]))
    results.write_record(ROOT / out, record)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
