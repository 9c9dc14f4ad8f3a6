"""Time profiling of the whole zoo (every block x position) and print the figure.

    python scripts/bench_profile_zoo.py [--memory-batch-size N] [--blocks A,B]

Profiles as `python -m blockzoo.costs` does on a CPU (memory batch 8 unless told otherwise), each distinct
network once (the baseline network, the same at every position, once: 31 cells for the default zoo).
Prints the total seconds, the median per cell and the slowest cell. Import time is excluded.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from blockzoo import POSITIONS, list_available_blocks
from blockzoo.cell import Cell
from blockzoo.profile.measure import MEMORY_BATCH, profile_cell
from blockzoo.settings import ProfileSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--memory-batch-size", type=int, default=MEMORY_BATCH["cpu"], metavar="N")
    parser.add_argument("--blocks", help="comma-separated block names (default: all registered)")
    args = parser.parse_args()
    blocks = args.blocks.split(",") if args.blocks else list_available_blocks()

    settings = ProfileSettings(memory_batch_size=args.memory_batch_size)
    cells = {cell.name: cell for cell in (Cell(block, position) for block in blocks for position in POSITIONS)}
    seconds: dict[str, float] = {}
    for name, cell in cells.items():
        start = time.perf_counter()
        profile_cell(cell, settings)
        seconds[name] = time.perf_counter() - start
        print(f"{name}: {seconds[name]:.2f} s", flush=True)

    slowest = max(seconds, key=seconds.get)
    print(
        f"profiled {len(seconds)} cells (memory batch {args.memory_batch_size}, {torch.get_num_threads()} threads) "
        f"in {sum(seconds.values()):.1f} s; median {statistics.median(seconds.values()):.2f} s per cell; "
        f"slowest {slowest} {seconds[slowest]:.2f} s"
    )


if __name__ == "__main__":
    main()
