"""Stage `benchmark@<block>-<position>`: latency and throughput of one cell -> metrics/benchmark/<cell>.json."""
from __future__ import annotations

import sys

from common import ROOT, cell_name, checked_settings, cli_errors, scaffold_options, stage_params

from blockzoo import results
from blockzoo.benchmark import benchmark_block


@cli_errors
def main(block: str, position: str) -> None:
    params = stage_params()
    record = benchmark_block(block, position, **scaffold_options(params), **checked_settings("benchmark", params["benchmark"], benchmark_block))
    results.write_record(ROOT / "metrics" / "benchmark" / f"{cell_name(block, position)}.json", record)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
