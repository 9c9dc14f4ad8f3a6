"""Stage `macro_benchmark@<arch>`: latency and throughput of one macro architecture, as a block's cell is
benchmarked. Usage (dvc.yaml): python stages/macro_benchmark.py ARCH OUT_JSON"""
from __future__ import annotations

import sys

from macro_stage import macro_cell_from_params

from common import ROOT, cli_errors, stage_params

from blockzoo import results
from blockzoo.benchmark.measure import benchmark_cell
from blockzoo.settings import BenchmarkSettings


@cli_errors
def main(cell: str, out: str) -> None:
    params = stage_params()
    record = benchmark_cell(macro_cell_from_params(cell, params), BenchmarkSettings.from_dict(params["benchmark"]))
    results.write_record(ROOT / out, record)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
