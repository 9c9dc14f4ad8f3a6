"""Profile one cell (block x position): parameters, FLOPs and peak memory, train and deploy form.

    python -m blockzoo.profile ResNetBasicBlock --position mid [--output profile.json]
"""
from __future__ import annotations

import sys

from blockzoo import cli
from blockzoo.errors import cli_errors
from blockzoo.settings import ProfileSettings

STAGES = ("stem", "early", "mid", "late", "head")


def print_profile(record: dict) -> None:
    p = record["profile"]
    position = record["position"]
    both = lambda name: (f"{p[name]:,}", f"{p[name + '_deploy']:,}")  # noqa: E731
    batch = p["memory_batch_size"]
    rows = [
        ("params", "whole net", *both("params_total")),
        ("params", f"active stage ({position})", *both("params_active")),
        ("FLOPs", "whole net", *both("flops_total")),
        ("FLOPs", "whole net, fvcore's default ops only", f"{p['flops_total_fvcore']:,}", ""),
        ("FLOPs", f"active stage ({position})", *both("flops_active")),
        *[("FLOPs", stage, *both(f"flops_{stage}")) for stage in STAGES],
        ("memory", f"eval forward, no grad, batch {batch}", cli.mebibytes(p["memory_forward_bytes"]), ""),
        ("memory", f"train step, batch {batch}", cli.mebibytes(p["memory_train_step_bytes"]), ""),
    ]
    notes = [
        "FLOPs for one image in eval mode: one multiply-add = one FLOP, one elementwise op = one FLOP per element.",
        f"Ops nobody counted: {p['unsupported_ops'] or 'none'}",
        f"Memory: measured peak above the resident model and input, train form, on {p['memory_device']}.",
    ]
    cli.print_table(f"{record['cell']}", ["quantity", "of", "train form", "deploy form"], rows, notes)


@cli_errors
def main(argv: list[str] | None = None) -> int:
    parser = cli.cell_parser("blockzoo.profile", __doc__)
    batch = cli.bounded(ProfileSettings.limit("memory_batch_size"))
    parser.add_argument("--memory-batch-size", type=batch, metavar="N",
                        help="batch size of the memory measurement (default 8 on a CPU, 64 on a GPU)")
    args = parser.parse_args(argv)

    cli.check_cell_args(args)  # before the seconds of torch imports
    settings = ProfileSettings(memory_batch_size=args.memory_batch_size, device=args.device)
    from blockzoo.profile.measure import profile_cell

    record = profile_cell(cli.cell_from_args(args), settings)
    return cli.show_and_write(record, print_profile, args.output)


if __name__ == "__main__":
    sys.exit(main())
