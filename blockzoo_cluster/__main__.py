"""Run the pipeline's out-of-date cells on a Ray cluster; the results come back through a DVC remote.

    python -m blockzoo_cluster run                        # a local Ray cluster: this machine's GPUs or CPUs
    python -m blockzoo_cluster run train                  # only the training cells (and what they need)
    python -m blockzoo_cluster run -S setting=tryout      # settings as for `dvc exp run` (composed from conf/)
    python -m blockzoo_cluster run --address HEAD:6379 --remote store
    python -m blockzoo_cluster why                        # what `dvc repro` would run now, and why (`make why`)
    python -m blockzoo_cluster retime                     # time again the latencies timed busy (`make retime`)

The workers check out the workspace's commit, so commit first (new files too: `git add user_blocks conf`).
Afterwards `dvc repro` here finds every cell in DVC's run-cache, and dvc.lock, metrics and plots are what a
local run gives (docs/cluster.md).
"""
from __future__ import annotations

import sys

from blockzoo import cli
from blockzoo.errors import BlockzooError, cli_errors

MAX_JOBS = 1024


def positive(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_JOBS:
        raise BlockzooError(f"--jobs must be an integer from 1 to {MAX_JOBS} (cells running at once), got {text!r}")
    return int(text)


def build_parser() -> cli.Parser:
    p = cli.parser("blockzoo_cluster", __doc__)
    commands = p.add_subparsers(dest="command", required=True, parser_class=cli.Parser)
    run = commands.add_parser("run", help="run the out-of-date cells on the cluster, then `dvc repro` here")
    run.add_argument("targets", nargs="*", metavar="TARGETS",
                     help="stages or stage groups, as for `dvc repro` (default: the whole pipeline)")
    run.add_argument("--address", help="an existing Ray cluster (host:port, or 'auto'); default: start one here")
    run.add_argument("--remote", help="the DVC remote every node reaches (default: the default remote; a local "
                                      "cluster without one uses this checkout's DVC cache)")
    run.add_argument("--jobs", type=positive, help="cells running at once, at most (default: as many as fit)")
    run.add_argument("-S", "--set-param", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="a setting for this run, as `dvc exp run -S` takes it (e.g. setting=tryout, block=MyBlock): "
                          "params.yaml is composed from conf/ with them before anything runs")
    run.add_argument("--scratch", metavar="DIR",
                     help="where each node keeps its checkouts and DVC cache (default $TMPDIR/blockzoo-cluster-$USER)")
    retime = commands.add_parser("retime", help="time again the latencies timed on a busy machine, when it is quiet "
                                                "(`make retime`), then `dvc repro aggregate`")
    retime.add_argument("--wait", type=float, default=600.0, metavar="SECONDS",
                        help="how long to wait for a quiet machine, at most (default 600)")
    commands.add_parser("why", help="what `dvc repro` would run now, and why: the cells by name, with the file "
                                    "or setting that changed (`make why`)")
    return p


@cli_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "why":
        from pathlib import Path

        from blockzoo_cluster.plan import repo_root
        from blockzoo_cluster.why import explain

        print("\n".join(explain(repo_root(Path.cwd()))))
        return 0
    if args.command == "retime":
        from pathlib import Path

        from blockzoo_cluster.driver import dvc
        from blockzoo_cluster.plan import repo_root
        from blockzoo_cluster.retime import retime

        root = repo_root(Path.cwd())
        return retime(root, max(args.wait, 0.0), lambda *a: dvc(root, *a))
    if args.scratch is not None and args.address is None:  # a local cluster: the scratch folder is this machine's
        cli.check_output_dir(args.scratch, "--scratch")
    for override in args.overrides:
        if not override.split("=", 1)[0].lstrip("+~") or ("=" not in override and not override.startswith("~")):
            raise BlockzooError(f"-S takes KEY=VALUE (as `dvc exp run -S`), got {override!r}")
    from blockzoo_cluster.driver import Options, run

    return run(Options(targets=args.targets, address=args.address, remote=args.remote, jobs=args.jobs,
                       scratch=args.scratch, overrides=args.overrides))


if __name__ == "__main__":
    sys.exit(main())
