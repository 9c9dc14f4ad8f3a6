"""Stage `profile@<block>-<position>` (named profile_cell: `profile` is a standard-library module): params, FLOPs and memory of one cell -> metrics/profile/<cell>.json."""
from __future__ import annotations

import sys

from common import ROOT, cell_name, checked_settings, cli_errors, scaffold_options, stage_params

from blockzoo import results
from blockzoo.profile import profile_block


@cli_errors
def main(block: str, position: str) -> None:
    params = stage_params()
    record = profile_block(block, position, **scaffold_options(params), **checked_settings("profile", params["profile"], profile_block))
    results.write_record(ROOT / "metrics" / "profile" / f"{cell_name(block, position)}.json", record)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
