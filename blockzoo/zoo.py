"""Profile and benchmark the zoo: every block x position, one table, optionally results.csv.

    python -m blockzoo.zoo [--blocks A,B] [--positions early,mid] [--device cpu] [--output results.csv]

The main job until the DVC pipeline lands. Defaults depend on the device: on a CPU they are
small enough for all 33 cells to finish in minutes; on a GPU they are the pipeline's.
"""
from __future__ import annotations

import argparse

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from blockzoo import cli_common, results
from blockzoo.benchmark import DEFAULT_TIMING, benchmark_block, check_positive
from blockzoo.blocks.registry import POSITIONS, check_position, get_block, import_block_modules, list_available_blocks
from blockzoo.environment import cpu_model
from blockzoo.errors import BlockzooError, cli_errors
from blockzoo.profile import check_device, profile_block

# the benchmark's warm-up and repeats; on a CPU a smaller large batch and memory batch, so that the
# 33 cells take minutes on two cores (the pipeline's 256 and 64 take seconds per forward there)
ZOO_DEFAULTS = {
    device: {"batch_size": batch_size, "warmup": DEFAULT_TIMING[device].warmup, "repeats": DEFAULT_TIMING[device].repeats,
             "memory_batch_size": memory_batch_size}
    for device, batch_size, memory_batch_size in (("cpu", 32, 8), ("cuda", 256, 64))
}


def parse_list(text: str | None, default: list[str], what: str) -> list[str]:
    if text is None:
        return default
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise BlockzooError(f"--{what} is empty; give comma-separated names or leave it out for all")
    return names


def run_zoo(blocks: list[str], positions: list[str], settings: dict, scaffold: dict, device: str, threads: int | None) -> list[dict]:
    """Profile and benchmark every cell; one merged record per cell."""
    records = []
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=cli_common.console(),
    )
    with progress:
        task = progress.add_task("zoo", total=len(blocks) * len(positions))
        for block in blocks:
            for position in positions:
                progress.update(task, description=f"{block} / {position}")
                profile = profile_block(block, position, device=device, memory_batch_size=settings["memory_batch_size"], **scaffold)
                benchmark = benchmark_block(
                    block, position, device=device, threads=threads, batch_size=settings["batch_size"],
                    warmup=settings["warmup"], repeats=settings["repeats"], **scaffold,
                )
                records += results.merge_records([profile, benchmark])
                progress.advance(task)
    return records


def print_zoo(records: list[dict]) -> None:
    m = cli_common.millions
    rows = []
    for record in records:
        p, b = record["profile"], record["benchmark"]
        rows.append((
            record["block"],
            record["position"],
            cli_common.train_to_deploy(m(p["params_total"]), m(p["params_total_deploy"])),
            cli_common.train_to_deploy(m(p["params_active"]), m(p["params_active_deploy"])),
            cli_common.train_to_deploy(f"{p['flops_total'] / 1e6:.1f}", f"{p['flops_total_deploy'] / 1e6:.1f}"),
            cli_common.train_to_deploy(f"{p['flops_active'] / 1e6:.1f}", f"{p['flops_active_deploy'] / 1e6:.1f}"),
            f"{p['memory_forward_bytes'] / 2**20:.1f}",
            f"{p['memory_train_step_bytes'] / 2**20:.1f}",
            f"{b['latency_b1_ms']:.2f}",
            f"{b['throughput']:,.0f}",
        ))
    first = records[0]
    p, b = first["profile"], first["benchmark"]
    notes = [
        "params, MFLOPs: train form -> deploy (re-parameterised) form where they differ; fvcore FLOPs, 1 multiply-add = 1 FLOP, one image.",
        f"mem: measured peak of an eval forward / one SGD training step at batch {p['memory_batch_size']}, train form, on {p['memory_device']}.",
        f"latency b1: deploy form, median of {b['repeats']}; img/s: deploy form at batch {b['batch_size']}; {b['device']}, {b['dtype']}, {b['threads']} threads.",
    ]
    cli_common.print_table(
        "blockzoo",
        ["block", "position", "params total", "params active", "MFLOPs total", "MFLOPs active",
         "mem fwd MiB", "mem train-step MiB", "latency b1 ms", f"img/s b{b['batch_size']}"],
        rows, notes,
    )


@cli_errors
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m blockzoo.zoo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocks", metavar="A,B", help="comma-separated block names (default: every registered block)")
    parser.add_argument("--positions", metavar="P,Q", help="comma-separated positions (default: early,mid,late)")
    cli_common.add_device_argument(parser)
    for name, help_text in (("batch-size", "the large benchmark batch"), ("warmup", "untimed iterations"),
                            ("repeats", "timed iterations"), ("memory-batch-size", "batch of the memory measurement")):
        defaults = ", ".join(f"{device} {values[name.replace('-', '_')]}" for device, values in ZOO_DEFAULTS.items())
        parser.add_argument(f"--{name}", type=int, metavar="N", help=f"{help_text} (default {defaults})")
    parser.add_argument("--threads", type=int, metavar="N", help="torch intra-op threads for the benchmark (default: torch's)")
    parser.add_argument("--output", metavar="PATH", help="write the merged records here as results.csv")
    cli_common.add_scaffold_arguments(parser)
    args = parser.parse_args(argv)

    device = check_device(args.device)
    scaffold = cli_common.scaffold_arguments(args)
    import_block_modules(scaffold["block_modules"])
    blocks = parse_list(args.blocks, list_available_blocks(), "blocks")
    positions = parse_list(args.positions, list(POSITIONS), "positions")
    for block in blocks:
        get_block(block)
    for position in positions:
        check_position(position)
    settings = {name: value if (value := getattr(args, name)) is not None else default
                for name, default in ZOO_DEFAULTS[device.type].items()}
    for name, value in settings.items():  # fail now, not after the first cell
        check_positive(name, value, minimum=0 if name == "warmup" else 1)

    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{cpu_model()}, {args.threads or torch.get_num_threads()} threads"
    cli_common.console().print(
        f"{len(blocks)} blocks x {len(positions)} positions = {len(blocks) * len(positions)} cells on {device.type} ({where}); "
        f"benchmark batch {settings['batch_size']}, {settings['warmup']} warm-up + {settings['repeats']} timed iterations; "
        f"memory batch {settings['memory_batch_size']}"
    )
    records = run_zoo(blocks, positions, settings, scaffold, str(device), args.threads)
    print_zoo(records)
    if args.output:
        results.write_results_csv(args.output, records)
        cli_common.console().print(f"wrote {len(records)} rows to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
