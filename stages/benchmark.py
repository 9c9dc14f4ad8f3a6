"""Stage `benchmark@<cell>`: latency and throughput of one cell.

Usage (dvc.yaml): python stages/benchmark.py CELL OUT_JSON
"""
from __future__ import annotations

import sys

from cell_stage import cell_from_params
from common import ROOT, cli_errors, stage_params

from blockzoo import results
from blockzoo.benchmark.measure import benchmark_cell
from blockzoo.settings import BenchmarkSettings


@cli_errors
def main(cell: str, out: str) -> None:
    params = stage_params()
    record = benchmark_cell(cell_from_params(cell, params), BenchmarkSettings.from_dict(params["benchmark"]))
    results.write_record(ROOT / out, record)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
