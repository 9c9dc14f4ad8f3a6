"""Time profiling of the whole zoo (every block x position) and print the figure.

    python scripts/bench_profile_zoo.py [--memory-batch-size N] [--blocks A,B]

Profiles as `python -m blockzoo.zoo` does on a CPU (memory batch 8 unless told otherwise).
Prints the total seconds, the median per cell and the slowest cell. Import time is excluded.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from blockzoo import POSITIONS, list_available_blocks
from blockzoo.profile import profile_block
from blockzoo.zoo import ZOO_DEFAULTS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--memory-batch-size", type=int, default=ZOO_DEFAULTS["cpu"]["memory_batch_size"], metavar="N")
    parser.add_argument("--blocks", help="comma-separated block names (default: all registered)")
    args = parser.parse_args()
    blocks = args.blocks.split(",") if args.blocks else list_available_blocks()

    seconds: dict[str, float] = {}
    for block in blocks:
        for position in POSITIONS:
            start = time.perf_counter()
            profile_block(block, position, memory_batch_size=args.memory_batch_size)
            seconds[f"{block}/{position}"] = time.perf_counter() - start
            print(f"{block}/{position}: {seconds[f'{block}/{position}']:.2f} s", flush=True)

    slowest = max(seconds, key=seconds.get)
    print(
        f"profiled {len(seconds)} cells (memory batch {args.memory_batch_size}, {torch.get_num_threads()} threads) "
        f"in {sum(seconds.values()):.1f} s; median {statistics.median(seconds.values()):.2f} s per cell; "
        f"slowest {slowest} {seconds[slowest]:.2f} s"
    )


if __name__ == "__main__":
    main()
