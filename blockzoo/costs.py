"""The costs of every block at every position in one table: parameters, FLOPs, memory, latency.

    python -m blockzoo.costs [--blocks A,B] [--positions early,mid] [--device cpu] [--output results.csv]

Profile and benchmark, no training, outside the pipeline, with the pipeline's defaults for the device
(on a CPU small enough for the whole zoo to finish in minutes).
"""
from __future__ import annotations

import sys

from blockzoo import cli
from blockzoo.errors import BlockzooError, cli_errors
from blockzoo.settings import BenchmarkSettings, ProfileSettings


def parse_list(text: str | None, default: list[str], what: str) -> list[str]:
    if text is None:
        return default
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise BlockzooError(f"--{what} is empty; give comma-separated names or leave it out for all")
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise BlockzooError(f"--{what} names {', '.join(twice)} more than once; give each once")
    return names


def measure_all(cells: list, profile_settings, benchmark_settings) -> list[dict]:
    """Profile and benchmark every distinct network once; one merged record per cell (the baseline network,
    the same at every position, is measured once and reported at each)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from blockzoo import results
    from blockzoo.benchmark.measure import benchmark_cell
    from blockzoo.profile.measure import profile_cell

    measured: dict[str, dict] = {}
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=cli.console())
    with progress:
        task = progress.add_task("cells", total=len({cell.name for cell in cells}))
        for cell in cells:
            if cell.name not in measured:
                progress.update(task, description=cell.name)
                records = [profile_cell(cell, profile_settings), benchmark_cell(cell, benchmark_settings)]
                measured[cell.name] = results.merge_records(records)[0]
                progress.advance(task)
    return [results.at_position(measured[cell.name], cell.position) for cell in cells]


def print_costs(records: list[dict]) -> None:
    m = cli.millions
    rows = []
    for record in records:
        p, b = record["profile"], record["benchmark"]
        rows.append((
            record["block"], record["position"],
            cli.train_to_deploy(m(p["params_total"]), m(p["params_total_deploy"])),
            cli.train_to_deploy(m(p["params_active"]), m(p["params_active_deploy"])),
            cli.train_to_deploy(f"{p['flops_total'] / 1e6:.1f}", f"{p['flops_total_deploy'] / 1e6:.1f}"),
            cli.train_to_deploy(f"{p['flops_active'] / 1e6:.1f}", f"{p['flops_active_deploy'] / 1e6:.1f}"),
            f"{p['memory_forward_bytes'] / 2**20:.1f}", f"{p['memory_train_step_bytes'] / 2**20:.1f}",
            f"{b['latency_b1_ms']:.2f}", f"{b['throughput']:,.0f}",
        ))
    p, b = records[0]["profile"], records[0]["benchmark"]
    notes = [
        "params, MFLOPs: train form -> deploy (re-parameterised) form where they differ; one image; one multiply-add "
        "or one elementwise op = 1 FLOP.",
        f"mem: measured peak of an eval forward / one SGD training step at batch {p['memory_batch_size']}, train form, "
        f"on {p['memory_device']}.",
        f"latency b1: deploy form, median of the steadiest round; img/s: deploy form at batch {b['batch_size']}; "
        f"{b['device']}, {b['dtype']}, {b['threads']} threads.",
    ]
    cli.print_table("blockzoo: the costs of each block at each position",
                    ["block", "position", "params total", "params active", "MFLOPs total", "MFLOPs active",
                     "mem fwd MiB", "mem train-step MiB", "latency b1 ms", f"img/s b{b['batch_size']}"], rows, notes)


@cli_errors
def main(argv: list[str] | None = None) -> int:
    parser = cli.parser("blockzoo.costs", __doc__)
    parser.add_argument("--blocks", metavar="A,B", help="comma-separated block names (default: every registered block)")
    parser.add_argument("--positions", metavar="P,Q", help="comma-separated positions (default: early,mid,late)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    for settings, name, help_text in (
            (BenchmarkSettings, "batch-size", "the large benchmark batch (default: cpu 32, cuda 256)"),
            (BenchmarkSettings, "warmup", "untimed iterations (default: cpu 2, cuda 20)"),
            (BenchmarkSettings, "repeats", "timed iterations per round (default: cuda 100, cpu as many as fill 0.3 s)"),
            (ProfileSettings, "memory-batch-size", "batch of the memory measurement (default: cpu 8, cuda 64)")):
        parser.add_argument(f"--{name}", type=cli.bounded(settings.limit(name.replace("-", "_"))), metavar="N",
                            help=help_text)
    parser.add_argument("--threads", type=cli.bounded(BenchmarkSettings.limit("threads")), metavar="N",
                        help="torch intra-op threads for the benchmark")
    parser.add_argument("--output", metavar="PATH", help="write the merged records here as results.csv")
    cli.add_scaffold_options(parser)
    args = parser.parse_args(argv)

    from blockzoo.names import POSITIONS

    # everything that needs no torch is checked before the seconds of its imports
    chosen = None if args.blocks is None else [cli.check_block_spec(b, args.block_module)
                                                  for b in parse_list(args.blocks, [], "blocks")]
    positions = [cli.check_position(p) for p in parse_list(args.positions, list(POSITIONS), "positions")]
    cli.check_output_file(args.output, "--output")
    cli.scaffold_from_args(args)
    profile_settings = ProfileSettings(memory_batch_size=args.memory_batch_size, device=args.device)
    benchmark_settings = BenchmarkSettings(device=args.device, batch_size=args.batch_size, warmup=args.warmup,
                                           repeats=args.repeats, threads=args.threads)

    from blockzoo import results
    from blockzoo.blocks.registry import list_available_blocks
    from blockzoo.cell import resolve_device
    from blockzoo.environment import cpu_model

    device = resolve_device(args.device)
    cli.cell_from_args(args, "ResNetBasicBlock", "mid")  # imports the user's modules
    blocks = chosen or list_available_blocks()
    cells = [cli.cell_from_args(args, block, position) for block in blocks for position in positions]
    for cell in {cell.name: cell for cell in cells}.values():
        cell.build()  # a block that cannot be built stops the command now, not after the cells before it
    profile_settings = profile_settings.replace(device=str(device))
    benchmark_settings = benchmark_settings.replace(device=str(device))
    where = cpu_model() if device.type == "cpu" else device
    cli.console().print(f"{len(blocks)} blocks x {len(positions)} positions = {len(cells)} cells on {device.type} "
                        f"({where}); {len({cell.name for cell in cells})} distinct networks")
    records = measure_all(cells, profile_settings, benchmark_settings)
    print_costs(records)
    if args.output:
        results.write_results_csv(args.output, records)
        cli.console().print(f"wrote {len(records)} rows to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
