"""One cell on a worker node: a clean checkout of the commit, `dvc repro`, its result pushed to the DVC remote.

A training cell's `dvc repro` runs in the worker's own process (in_process.py: torch imported once per worker);
the other cells' in a process of their own, under the guard.

Under the node's scratch folder:
    bundles/<commit>.bundle   the commit as a git bundle (sent by the driver through Ray's object store)
    cache/                    the node's DVC cache, shared by the checkouts on the node
    checkouts/<cell>-<id>/    one checkout per attempt at a cell, deleted when it ends; a checkout whose
                              task died (its .lock no longer held) is deleted by the next task on the node

The cell's result reaches the remote in an order that never leaves half of it there: its output files
first, its run-cache entry (which names them) last. The driver restores the cell from that entry.
"""
from __future__ import annotations

import fcntl
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from blockzoo_cluster.in_process import repro_in_process, runs_in_process
from blockzoo_cluster.plan import dvc_repo

LOG_TAIL_LINES = 30


def log_tail(text: str) -> str:
    """The last lines of a cell's log, as a failure shows them."""
    return "\n".join(text.splitlines()[-LOG_TAIL_LINES:])


@dataclass(frozen=True)
class Job:
    """What every cell of one cluster run shares."""

    commit: str
    remote: str  # the DVC remote's name ...
    remote_config: dict  # ... and its config (url and options), as the driver has it
    scratch: str  # the scratch folder on each node (created where missing)
    outputs: tuple[str, ...] = ()  # every output of the pipeline: a checkout starts without them
    params: str | None = None  # the driver's params.yaml (composed from the commit's conf/ and the run's -S)


class CellFailed(Exception):
    """The cell's own command failed: running it again would fail again, so it is not retried."""

    def __init__(self, stage: str, log_tail: str):
        super().__init__(f"{stage} failed:\n{log_tail}")
        self.stage, self.log_tail = stage, log_tail

    def __reduce__(self):  # Ray sends exceptions back pickled
        return CellFailed, (self.stage, self.log_tail)


class WorkerError(Exception):
    """The worker could not check out, pull or push (a full disk, the remote unreachable): worth a retry."""


def run_cell(stage: str, job: Job, bundle: bytes, threads: int | None) -> dict:
    """Run one cell in its own checkout; return its run-cache entry (key, value), when it ran and on which node.

    threads: the cell's torch threads (its CPUs); None: torch's own choice, as in a local run (a timing cell alone).
    """
    start, started = time.perf_counter(), time.time()
    scratch = Path(job.scratch)
    checkouts = scratch / "checkouts"
    checkouts.mkdir(parents=True, exist_ok=True)
    sweep(checkouts)
    name = f"{re.sub(r'[^A-Za-z0-9_.-]', '_', stage)}-{uuid.uuid4().hex[:8]}"
    checkout = checkouts / name
    lock_path, log = checkouts / f"{name}.lock", checkouts / f"{name}.log"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # held while this task lives; a dead task's checkout is swept
        try:
            check_out(job.commit, bundle, scratch, checkout, job.outputs)
            if job.params is not None:
                (checkout / "params.yaml").write_text(job.params)
            configure_dvc(checkout, job, scratch / "cache")
            in_process = runs_in_process(stage)
            ran = (repro_in_process if in_process else repro)(stage, checkout, log, threads)
            entry = push_result(stage, checkout, job.remote)
        finally:
            shutil.rmtree(checkout, ignore_errors=True)
            log.unlink(missing_ok=True)
            lock_path.unlink(missing_ok=True)
    return {"stage": stage, "entry": entry, "seconds": time.perf_counter() - start, "started": started,
            "ended": time.time(), "node": socket.gethostname(), "ran": ran,
            "in_process": in_process, "pid": os.getpid()}


def sweep(checkouts: Path) -> None:
    """Delete the checkouts of tasks that died (killed workers): their lock is no longer held."""
    for lock_path in checkouts.glob("*.lock"):
        with open(lock_path, "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live task's
            shutil.rmtree(lock_path.with_suffix(""), ignore_errors=True)
            lock_path.with_suffix(".log").unlink(missing_ok=True)
            lock_path.unlink(missing_ok=True)


def check_out(commit: str, bundle: bytes, scratch: Path, checkout: Path, outputs: tuple[str, ...]) -> None:
    """The commit's code and settings, without its dvc.lock and outputs: whatever state of results it holds, the
    cell's inputs then come from the run's own run-cache entries alone."""
    bundles = scratch / "bundles"
    bundles.mkdir(parents=True, exist_ok=True)
    path = bundles / f"{commit}.bundle"
    if not path.is_file():
        tmp = bundles / f".{commit}.{uuid.uuid4().hex[:8]}.tmp"
        tmp.write_bytes(bundle)
        os.replace(tmp, path)
    for args in (["clone", "--quiet", "--no-checkout", str(path), str(checkout)],
                 ["-C", str(checkout), "checkout", "--quiet", "--detach", commit]):
        proc = subprocess.run(["git", *args], capture_output=True, text=True)
        if proc.returncode != 0:
            raise WorkerError(f"git {args[0]} of {commit[:12]} failed on {socket.gethostname()}: {proc.stderr.strip()}")
    for name in ("dvc.lock", *outputs):
        path = checkout / name
        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink(missing_ok=True)


def configure_dvc(checkout: Path, job: Job, cache: Path) -> None:
    """The checkout's .dvc/config.local: the run's remote as the default, the node's shared cache."""
    with dvc_repo(checkout) as repo, repo.config.edit("local") as config:
        config["remote"][job.remote] = dict(job.remote_config)
        config["core"]["remote"] = job.remote
        config["cache"]["dir"] = str(cache)


def dvc_env() -> dict[str, str]:
    """This environment with this Python's bin folder first: `dvc` and the stages' `python` are this project's."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "DVC_NO_ANALYTICS": "1"}


def repro(stage: str, checkout: Path, log: Path, threads: int | None) -> bool:
    """`dvc repro --pull STAGE`: the shared stages and the cells it needs come from the remote, it alone runs.

    False when it did not run either: the node's DVC cache already held its result (the same code, settings and
    inputs, run by an earlier task on this node), which DVC restored."""
    env = dvc_env()
    for name in ("DVC_STAGE", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # Ray sets OMP_NUM_THREADS in its workers
        env.pop(name, None)
    if threads is not None:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    command = [sys.executable, "-m", "blockzoo_cluster.guard", str(os.getpid()),
               sys.executable, "-m", "dvc", "repro", "--pull", stage]
    with open(log, "w") as out:
        code = subprocess.run(command, cwd=checkout, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    text = log.read_text(errors="replace")
    tail = log_tail(text)
    if code != 0:
        if "failed to run:" in text:  # DVC's words when the stage's command itself exited non-zero
            raise CellFailed(stage, tail)
        raise WorkerError(f"dvc repro --pull {stage} failed on {socket.gethostname()} (exit {code}):\n{tail}")
    ran = set(re.findall(r"Running stage '([^']+)'", text))
    if ran - {stage}:
        raise WorkerError(f"{stage}: DVC also ran {', '.join(sorted(ran - {stage}))}, which should have come from "
                          f"the remote:\n{tail}")
    if stage not in ran and f"Stage '{stage}' is cached" not in text:
        raise WorkerError(f"{stage}: DVC neither ran it nor restored it:\n{tail}")
    return stage in ran


def push_result(stage_name: str, checkout: Path, remote: str) -> tuple[str, str]:
    with dvc_repo(checkout) as repo:
        (stage,) = repo.stage.collect(stage_name)
        return push_entry(repo, stage, remote)


def push_entry(repo, stage, remote: str | None) -> tuple[str, str]:
    """Save the stage's run-cache entry, push its outputs, then the entry (which names them); return (key, value).

    remote None: the entry is only saved (the remote is this checkout's own cache).

    DVC itself saves no entry for a stage with a `cache: false` output that is not a metric or plot (every
    cell: its small JSON is tracked by git); StageCache.save is what it calls for the other stages, and it
    also puts the uncached outputs in the cache, so that the entry restores them.
    """
    from dvc.stage.cache import _can_hash, _get_cache_hash, _get_stage_hash
    from dvc.stage.serialize import to_single_stage_lockfile

    if not _can_hash(stage):  # a dependency missing, or an output outside the repository
        raise WorkerError(f"{stage.addressing}: DVC cannot keep it in the run-cache on {socket.gethostname()}")
    repo.stage_cache.save(stage)
    key = _get_stage_hash(stage)
    value = _get_cache_hash(to_single_stage_lockfile(stage))
    entry = Path(repo.stage_cache._get_cache_path(key, value))
    if not entry.is_file():
        raise WorkerError(f"{stage.addressing}: DVC saved no run-cache entry for it on {socket.gethostname()}")
    if remote is None:
        return key, value
    for objs in repo.stage_cache.get_used_objs([(key, value)]).values():
        result = repo.cloud.push(objs, remote=remote)
        if result.failed:
            raise WorkerError(f"{stage.addressing}: {len(result.failed)} output files did not reach remote '{remote}'")
    odb = repo.cloud.get_remote_odb(remote, "push --run-cache", hash_name="md5-dos2unix")
    odb.fs.put_file(str(entry), odb.fs.join(odb.path, "runs", key[:2], key, value))
    return key, value
