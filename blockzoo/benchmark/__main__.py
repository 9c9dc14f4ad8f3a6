"""Benchmark one cell: inference latency and throughput, deploy form and train form.

    python -m blockzoo.benchmark ResNetBasicBlock --position mid --device cuda [--dtype bf16]
"""
from __future__ import annotations

import sys

from blockzoo import cli
from blockzoo.errors import cli_errors
from blockzoo.settings import BenchmarkSettings


def print_benchmark(record: dict) -> None:
    b = record["benchmark"]
    deploy, train = "deploy (re-parameterised)", "train (as built)"
    rows = [
        (deploy, 1, f"{b['latency_b1_ms']:.2f}", f"{b['latency_b1_ms_p10']:.2f}", f"{b['latency_b1_ms_p90']:.2f}",
         f"{1e3 / b['latency_b1_ms']:,.0f}"),
        (deploy, b["batch_size"], f"{b['latency_ms']:.2f}", f"{b['latency_ms_p10']:.2f}", f"{b['latency_ms_p90']:.2f}",
         f"{b['throughput']:,.0f}"),
        (train, 1, f"{b['train_form_latency_b1_ms']:.2f}", "", "", f"{1e3 / b['train_form_latency_b1_ms']:,.0f}"),
        (train, b["batch_size"], f"{b['train_form_latency_ms']:.2f}", "", "", f"{b['train_form_throughput']:,.0f}"),
    ]
    notes = [
        f"{b['device']} ({b['env']['gpu_model'] or b['env']['cpu_model']}), {b['dtype']}, "
        f"{'channels-last' if b['channels_last'] else 'contiguous'}, {b['threads']} threads; eval mode, "
        f"inference_mode; {b['warmup']} warm-up + rounds of timed iterations ({b['repeats']} "
        "at the large batch)",
        f"{b['rounds']} round(s); spread (p90-p10)/median {b['latency_spread']:.1%}; "
        + ("BUSY: " if b["busy"] else "")
        + (f"other processes used {b['others_cpu_share']:.0%} of the CPUs" if b["others_cpu_share"] is not None
           else "the machine's load is unknown here")
        + ("" if b["stable"] else "; not stable: re-run on a quiet machine"),
    ]
    cli.print_table(f"{record['cell']}: inference latency",
                    ["form", "batch", "median ms", "p10 ms", "p90 ms", "images/s"], rows, notes)


@cli_errors
def main(argv: list[str] | None = None) -> int:
    parser = cli.cell_parser("blockzoo.benchmark", __doc__)
    parser.add_argument("--dtype", default="fp32", help="fp32, bf16 or fp16 (default fp32)")
    parser.add_argument("--channels-last", action="store_true", help="channels-last memory format")
    parser.add_argument("--batch-size", type=cli.bounded(BenchmarkSettings.limit("batch_size")), metavar="N",
                        help="the large batch (default: 32 on a CPU, 256 on a GPU)")
    parser.add_argument("--warmup", type=cli.bounded(BenchmarkSettings.limit("warmup")), metavar="N",
                        help="untimed iterations (default: 2 on a CPU, 20 on a GPU)")
    parser.add_argument("--repeats", type=cli.bounded(BenchmarkSettings.limit("repeats")), metavar="N",
                        help="timed iterations per round (default: GPU 100; CPU as many as fill 0.3 s, 5-200)")
    parser.add_argument("--threads", type=cli.bounded(BenchmarkSettings.limit("threads")), metavar="N",
                        help="torch intra-op threads (default: torch's)")
    args = parser.parse_args(argv)

    cli.check_cell_args(args)  # before the seconds of torch imports
    settings = BenchmarkSettings(device=args.device, dtype=args.dtype, channels_last=args.channels_last,
                                 batch_size=args.batch_size, warmup=args.warmup, repeats=args.repeats,
                                 threads=args.threads)
    from blockzoo.benchmark.measure import benchmark_cell

    record = benchmark_cell(cli.cell_from_args(args), settings)
    return cli.show_and_write(record, print_benchmark, args.output)


if __name__ == "__main__":
    sys.exit(main())
