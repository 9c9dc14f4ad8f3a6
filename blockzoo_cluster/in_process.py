"""A training cell run inside the Ray worker's own Python, not in a `dvc repro` and a `python` of its own.

Ray keeps a worker process for the next task of the same shape, so a worker that trains in-process imports
torch, timm and Lightning once (about 9 s at one thread, docs/training-speed.md) and starts no DVC or stage
process per cell. What DVC does is unchanged: `Repo.reproduce(STAGE, pull=True)` in this process pulls and
restores the stages the cell needs, restores the cell itself when the node's cache holds it, and saves its
outputs and dvc.lock after the run; only the stage's command, `python stages/<script>.py ARGS`, runs here:
its script from the cell's checkout, with blockzoo imported again from that checkout (the commit's code, not
the copy the worker was started with). Timing and memory cells keep a fresh process each (worker.repro).
"""
from __future__ import annotations

import contextlib
import logging
import os
import runpy
import shlex
import socket
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

from blockzoo_cluster.plan import dvc_repo

IN_PROCESS_KINDS = ("train", "macro_train")  # a cell's kind: the stage name before "@"


def runs_in_process(stage: str) -> bool:
    return stage.split("@", 1)[0] in IN_PROCESS_KINDS


def repro_in_process(stage: str, checkout: Path, log: Path, threads: int | None) -> bool:
    """`dvc repro --pull STAGE` in this process; True when the stage ran, False when DVC restored it.

    Raises worker.CellFailed when the stage's command failed, worker.WorkerError for anything else."""
    from dvc.stage.exceptions import StageCmdFailedError

    from blockzoo_cluster.worker import CellFailed, WorkerError, log_tail

    ran: list[str] = []

    def run_command(dvc_stage, dry=False, run_env=None):
        if dvc_stage.addressing != stage:  # an upstream stage should have come from the remote
            raise WorkerError(f"{stage}: DVC also ran {dvc_stage.addressing}, which should have come from the "
                              "remote")
        ran.append(stage)
        logging.getLogger("dvc").info("Running stage '%s' in the worker's process:", stage)
        run_script(dvc_stage, checkout, threads, dict(run_env or {}))

    with open(log, "w") as out, dvc_log_to(out), contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            with dvc_repo(checkout) as repo, mock.patch("dvc.stage.run.cmd_run", run_command):
                repo.reproduce(stage, pull=True)
        except Exception as exc:  # noqa: BLE001 - sorted below: the cell's own failure or the worker's
            causes = chain(exc)
            worker_error = next((cause for cause in causes if isinstance(cause, WorkerError)), None)
            failed = any(isinstance(cause, StageCmdFailedError) for cause in causes)
            print("ERROR: " + ": ".join(str(cause) or type(cause).__name__ for cause in causes), file=out)
            out.flush()
            tail = log_tail(log.read_text(errors="replace"))
            if worker_error is not None:
                raise WorkerError(f"{worker_error}:\n{tail}") from None
            if failed:
                raise CellFailed(stage, tail) from None
            raise WorkerError(f"dvc repro --pull {stage} failed in the worker's process on {socket.gethostname()}:"
                              f"\n{tail}") from None
    text = log.read_text(errors="replace")
    if not ran and f"Stage '{stage}' is cached" not in text:
        raise WorkerError(f"{stage}: DVC neither ran it nor restored it:\n{log_tail(text)}")
    return bool(ran)


def run_script(dvc_stage, checkout: Path, threads: int | None, run_env: dict[str, str]) -> None:
    """The stage's `python stages/<script>.py ARGS` as `python` would run it, in this process."""
    from dvc.stage.exceptions import StageCmdFailedError

    (command,) = [dvc_stage.cmd] if isinstance(dvc_stage.cmd, str) else dvc_stage.cmd
    argv = shlex.split(command)
    if len(argv) < 2 or argv[0] != "python" or not argv[1].endswith(".py"):
        raise StageCmdFailedError(command, f"not a `python SCRIPT.py` command, which {__name__} runs")
    script = (checkout / argv[1]).resolve()
    env = {**run_env, "DVC_ROOT": str(checkout), "DVC_STAGE": dvc_stage.addressing}
    with commit_code(checkout), script_context(script, argv[1:], checkout, env):
        if threads is not None:
            import torch

            torch.set_num_threads(threads)
        try:
            runpy.run_path(str(script), run_name="__main__")
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if isinstance(exc.code, str):
                print(exc.code, file=sys.stderr)
        except Exception:  # noqa: BLE001 - a crash of the stage is its command failing, as in its own process
            traceback.print_exc()
            code = 1
    if code != 0:
        raise StageCmdFailedError(command, code)


@contextlib.contextmanager
def commit_code(checkout: Path) -> Iterator[None]:
    """blockzoo, user_blocks and the stage modules imported from this checkout, and forgotten after it.

    torch, timm and the rest stay imported: they are what the worker saves; blockzoo's own modules take ~0.1 s."""
    forget_project_modules()
    try:
        yield
    finally:
        forget_project_modules()


def forget_project_modules() -> None:
    """Drop blockzoo, user_blocks and the stage scripts' modules: the next import reads the next checkout's files."""
    project = ("blockzoo", "user_blocks")
    for name, module in list(sys.modules.items()):
        if name.split(".", 1)[0] in project or in_a_checkout(module):
            del sys.modules[name]


def in_a_checkout(module) -> bool:
    path = getattr(module, "__file__", None) or ""
    return f"{os.sep}checkouts{os.sep}" in path and f"{os.sep}stages{os.sep}" in path


@contextlib.contextmanager
def script_context(script: Path, argv: list[str], checkout: Path, env: dict[str, str]) -> Iterator[None]:
    """sys.argv, sys.path[0], the working directory and the environment of `python SCRIPT ARGS` in `checkout`."""
    saved_argv, saved_path, saved_cwd = sys.argv[:], sys.path[:], os.getcwd()
    saved_env = {name: os.environ.get(name) for name in env}
    sys.argv = [str(script), *argv[1:]]
    sys.path.insert(0, str(script.parent))
    os.chdir(checkout)
    os.environ.update(env)
    try:
        yield
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
        os.chdir(saved_cwd)
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def dvc_log_to(out) -> Iterator[None]:
    """DVC's messages ("Running stage", "Stage ... is cached") into the cell's log, as `dvc repro` prints them, and
    only there: a handler left by an earlier in-process DVC command may write to a stream that is closed now."""
    logger = logging.getLogger("dvc")
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(message)s"))
    saved = logger.handlers[:], logger.level, logger.propagate
    logger.handlers, logger.propagate = [handler], False
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.handlers, logger.propagate = saved[0], saved[2]
        logger.setLevel(saved[1])


def chain(exc: BaseException) -> list[BaseException]:
    """The exception and its causes, outermost first."""
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen
