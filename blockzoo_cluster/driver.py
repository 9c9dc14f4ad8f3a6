"""The driver of a cluster run: shared stages here, one Ray task per stale cell, the results restored by DVC.

0. One run at a time per checkout (a lock in .dvc/tmp); params.yaml is composed from conf/ with the -S overrides,
   as `dvc exp run` does, and sent to the workers with the run.
1. The workspace must equal its commit (workers check the commit out), apart from the pipeline's outputs.
2. The shared stages (download, cells) run here with `dvc repro`; their run-cache entries, and those of the
   other up-to-date stages a stale cell needs (a trained cell under a stale `dynamic`), go to the remote.
3. Each stale cell is a Ray task (worker.run_cell), submitted when the cells it needs are done, at most
   --jobs at a time; a task whose worker dies is run again by Ray (cluster.retries), anywhere.
4. The cells' run-cache entries come back from the remote, and `dvc repro` restores every cell from
   them (DVC: "Stage ... is cached - skipping run") and runs what is left here: aggregate; dvc.lock is written
   once at its end (blockzoo_cluster.repro), not after every cell.
"""
from __future__ import annotations

import fcntl
import getpass
import importlib.util
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from blockzoo.errors import BlockzooError
from blockzoo_cluster.plan import Pipeline, dvc_repo, git, is_cell, repo_root, uncommitted, uncommitted_error
from blockzoo_cluster.settings import ClusterSettings, check_cluster_settings
from blockzoo_cluster.worker import CellFailed, Job, WorkerError, dvc_env, push_entry, run_cell

LOCAL_REMOTE = "driver-cache"  # a local cluster's remote when none is configured: this checkout's DVC cache


@dataclass
class Options:
    targets: list[str] = field(default_factory=list)
    address: str | None = None  # an existing Ray cluster; None: start one on this machine
    remote: str | None = None  # the DVC remote's name; None: the default remote
    jobs: int | None = None  # cells running at once, at most
    scratch: str | None = None  # the scratch folder on every node
    overrides: list[str] = field(default_factory=list)  # -S KEY=VALUE, as `dvc exp run` takes them


@dataclass
class Outcome:
    done: dict[str, dict] = field(default_factory=dict)  # cell -> what its task returned
    failed: dict[str, str] = field(default_factory=dict)  # cell -> why
    skipped: list[str] = field(default_factory=list)  # cells not run because a cell they need failed
    seconds: float = 0.0  # from the first cell submitted to the last one ended


def run(options: Options) -> int:
    root = repo_root(Path.cwd())
    os.chdir(root)  # DVC reads stage paths from the working directory
    with one_run_per_checkout(root):
        compose_params(root, options.overrides)
        return run_locked(root, options)


@contextmanager
def one_run_per_checkout(root: Path) -> Iterator[None]:
    """Hold .dvc/tmp/blockzoo-cluster.lock while the run lives; a second run in the same checkout stops at once."""
    path = root / ".dvc" / "tmp" / "blockzoo-cluster.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            pid = lock.read().strip() or "unknown"
            raise BlockzooError(f"another `python -m blockzoo_cluster run` is running in this checkout (pid {pid}); "
                                "wait for it to end (or stop it), then run this again") from None
        lock.truncate(0)
        lock.write(str(os.getpid()))
        lock.flush()
        try:
            yield
        finally:
            lock.truncate(0)


def compose_params(root: Path, overrides: list[str]) -> None:
    """params.yaml from conf/ and the overrides, checked before it is written (scripts/compose_params.py)."""
    spec = importlib.util.spec_from_file_location("compose_params", root / "scripts" / "compose_params.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.compose(list(overrides), root)
    if overrides:
        print(f"params.yaml composed from conf/ with {' '.join(overrides)}")


def default_scratch() -> str:
    """$TMPDIR/blockzoo-cluster-$USER: one user's runs share a node's DVC cache, other users' never touch it."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return str(Path(os.environ.get("TMPDIR", "/tmp")) / f"blockzoo-cluster-{re.sub(r'[^A-Za-z0-9_.-]', '_', user)}")


def run_locked(root: Path, options: Options) -> int:
    settings = check_cluster_settings(yaml.safe_load((root / "params.yaml").read_text()) or {})
    pipeline = Pipeline(root, options.targets)
    try:
        outputs = pipeline.outputs()
        changed = uncommitted(root, outputs)
        if changed:
            raise uncommitted_error(root, changed)
        remote, remote_config = choose_remote(pipeline, options)
        shared = pipeline.shared()
    finally:
        pipeline.close()
    if options.address:
        start_ray(options)  # fail before anything runs when the cluster cannot be reached
    if shared:
        dvc(root, "repro", *shared)
    pipeline = Pipeline(root, options.targets)  # read again: the shared stages may have changed the cells
    try:
        cells = pipeline.stale_cells()
        needs, upstream = pipeline.needs(cells), pipeline.upstream(cells)
    finally:
        pipeline.close()
    if not cells:
        stop_ray()
        print("no cell is out of date: nothing to run on the cluster")
        return finish(root, Outcome(), options.targets)

    own_cache = remote == LOCAL_REMOTE  # the workers' remote is this checkout's cache: nothing to send or fetch
    publish(root, upstream, None if own_cache else remote)
    job = Job(commit=git(root, "rev-parse", "HEAD").strip(), remote=remote, remote_config=remote_config,
              scratch=options.scratch or default_scratch(), outputs=tuple(outputs),
              params=(root / "params.yaml").read_text())
    outcome = run_on_ray(cells, needs, job, settings, options, bundle_of(root))
    if not own_cache:
        fetch_results(root, [tuple(done["entry"]) for done in outcome.done.values()], remote)
    return finish(root, outcome, options.targets)


def finish(root: Path, outcome: Outcome, targets: list[str]) -> int:
    """`dvc repro` here: it restores the cells from the run-cache and runs aggregate (only the finished cells
    when some failed)."""
    if outcome.failed or outcome.skipped:
        if outcome.done:
            dvc(root, "repro", "--single-item", *outcome.done)
        print(summary(outcome), file=sys.stderr)
        return 1
    output = dvc(root, "repro", *targets)
    here = [stage for stage in re.findall(r"Running stage '([^']+)'", output) if is_cell(stage)]
    if here:
        print(f"warning: {len(here)} cells ran on this machine, not restored from the cluster's results: "
              f"{', '.join(here[:5])}", file=sys.stderr)
    if outcome.done:
        print(summary(outcome))
    return 0


def choose_remote(pipeline: Pipeline, options: Options) -> tuple[str, dict]:
    """The DVC remote the results travel through; a local cluster without one uses this checkout's cache."""
    if options.remote or pipeline.repo.config["core"].get("remote") or options.address:
        return pipeline.remote(options.remote)
    return LOCAL_REMOTE, {"url": str(Path(pipeline.repo.cache.legacy.path).resolve())}


def dvc(root: Path, *args: str) -> str:
    """Run a DVC command here, showing its output; return that output. `repro` is DVC's own through
    blockzoo_cluster.repro, which writes dvc.lock once at its end, not after each of the many cells it restores."""
    command = ["blockzoo_cluster.repro", *args[1:]] if args[0] == "repro" else ["dvc", *args]
    proc = subprocess.Popen([sys.executable, "-m", *command], cwd=root, env=dvc_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in proc.stdout:
        print(line, end="", flush=True)
        lines.append(line)
    if proc.wait() != 0:
        raise BlockzooError(f"`dvc {' '.join(args)}` failed (exit {proc.returncode}); its output is above")
    return "".join(lines)


def publish(root: Path, stages: list[str], remote: str | None) -> None:
    """Put up-to-date stages' results on the remote as run-cache entries, which a worker's `dvc repro` restores
    (remote None: only save the entries, in this checkout's cache, which the workers use as their remote)."""
    with dvc_repo(root) as repo:
        for name in stages:
            for stage in repo.stage.collect(name):
                push_entry(repo, stage, remote)


def bundle_of(root: Path) -> bytes:
    """HEAD as a git bundle: every worker clones the commit from it, no git server needed."""
    return subprocess.run(["git", "bundle", "create", "-", "HEAD"], cwd=root, capture_output=True,
                          check=True).stdout


def start_ray(options: Options):
    """Connect to the cluster at --address, or start one here (once: a second call returns the connection)."""
    import ray

    if ray.is_initialized():
        return ray
    if not options.address:
        ray.init(include_dashboard=False, log_to_driver=False, logging_level="WARNING")
        return ray
    try:
        ray.init(address=options.address, log_to_driver=False, logging_level="WARNING")
    except Exception as exc:  # ConnectionError, Ray's AuthenticationError, ...: all mean "not connected"
        last = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise BlockzooError(f"could not connect to the Ray cluster at {options.address} ({last}); check it runs "
                            "(`ray status`), and with Ray's token authentication set RAY_AUTH_MODE=token and the "
                            "cluster's token (docs/cluster.md)") from None
    return ray


def run_on_ray(cells: list[str], needs: dict[str, list[str]], job: Job, settings: ClusterSettings,
               options: Options, bundle: bytes) -> Outcome:
    ray = start_ray(options)
    try:
        nodes = [node["Resources"] for node in ray.nodes() if node.get("Alive")]
        has_gpus = any(node.get("GPU", 0) > 0 for node in nodes)
        asks = {cell: fitted(settings.resources(cell, has_gpus), nodes, local=not options.address) for cell in cells}
        task = ray.remote(run_cell)
        bundle_ref = ray.put(bundle)
        jobs = options.jobs or len(cells)
        cpus, gpus = (sum(node.get(kind, 0) for node in nodes) for kind in ("CPU", "GPU"))
        at_once = f"at most {options.jobs}" if options.jobs else "as many as their resources fit"
        print(f"{len(cells)} cells on {len(nodes)} Ray node{'s' * (len(nodes) != 1)} ({cpus:g} CPUs, {gpus:g} GPUs), "
              f"{at_once} at a time")
        return schedule(ray, task, cells, needs, asks, job, bundle_ref, settings, jobs)
    finally:
        stop_ray()


def stop_ray() -> None:
    """Disconnect from the cluster (a local one stops), if this process is connected."""
    if "ray" in sys.modules:  # Ray is imported only when it is used
        sys.modules["ray"].shutdown()


def fitted(ask: dict[str, float], nodes: list[dict], local: bool) -> dict[str, float]:
    """The cell's resources, made to fit this machine on a local cluster; a one-line error on a real one."""
    if any(node.get("CPU", 0) >= ask["num_cpus"] and node.get("GPU", 0) >= ask["num_gpus"] for node in nodes):
        return ask
    if local:  # one node: ask for no more than it has
        cpus, gpus = (max(node.get(kind, 0) for node in nodes) for kind in ("CPU", "GPU"))
        return {"num_cpus": min(ask["num_cpus"], max(cpus, 1)), "num_gpus": min(ask["num_gpus"], gpus)}
    raise BlockzooError(f"a cell asks for {ask['num_cpus']:g} CPUs and {ask['num_gpus']:g} GPUs, which no node of the "
                        "cluster has; lower cluster.train_cpus / cluster.train_gpus (conf/config.yaml)")


def schedule(ray, task, cells, needs, asks, job, bundle_ref, settings: ClusterSettings, jobs: int) -> Outcome:
    """Submit each cell when the cells it needs are done, at most `jobs` at a time; show progress.

    Exclusive timing cells (cluster.exclusive_timing) go last, one at a time, when nothing else runs.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    waiting = sorted(cells, key=settings.is_exclusive)  # stable: the dependency order stays within each group
    outcome, running, start = Outcome(), {}, time.perf_counter()
    columns = (TextColumn("[bold]cells"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
               TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, transient=False) as progress:
        bar = progress.add_task("", total=len(cells))

        def show():
            progress.update(bar, completed=len(outcome.done) + len(outcome.failed) + len(outcome.skipped),
                            description=f"done {len(outcome.done)}  running {len(running)}  "
                                        f"failed {len(outcome.failed) + len(outcome.skipped)}")

        def say(line: str):
            progress.console.print(line, markup=False, highlight=False, soft_wrap=True)

        try:
            while waiting or running:
                for cell in list(waiting):
                    if any(need in outcome.failed or need in outcome.skipped for need in needs[cell]):
                        waiting.remove(cell)
                        outcome.skipped.append(cell)
                        say(f"skipped {cell}: a cell it needs failed")
                    elif ready_to_start(cell, running, jobs, needs, outcome, settings):
                        waiting.remove(cell)
                        ask, alone = asks[cell], settings.is_exclusive(cell)
                        ref = task.options(num_cpus=ask["num_cpus"], num_gpus=ask["num_gpus"],
                                           max_retries=settings.retries, retry_exceptions=[WorkerError],
                                           name=cell).remote(cell, job, bundle_ref,
                                                             None if alone else max(1, int(ask["num_cpus"])))
                        running[ref] = cell
                show()
                ready, _ = ray.wait(list(running), num_returns=1, timeout=1.0)
                for ref in ready:
                    cell = running.pop(ref)
                    try:
                        result = ray.get(ref)
                    except Exception as exc:  # the cell's own failure, retries exhausted, or a bug
                        outcome.failed[cell] = failure_text(exc)
                        say(f"FAILED {cell}: {outcome.failed[cell]}")
                    else:
                        outcome.done[cell] = result
                        say(done_line(cell, result))
                show()
        except KeyboardInterrupt:  # stop the cells on the cluster too, not only this process
            for ref in running:
                ray.cancel(ref, force=True)
            raise
    outcome.seconds = time.perf_counter() - start
    return outcome


def ready_to_start(cell: str, running: dict, jobs: int, needs, outcome: Outcome, settings: ClusterSettings) -> bool:
    if len(running) >= jobs or not all(need in outcome.done for need in needs[cell]):
        return False
    if any(settings.is_exclusive(other) for other in running.values()):
        return False  # a timing cell runs alone
    return not settings.is_exclusive(cell) or not running


def done_line(cell: str, result: dict) -> str:
    clock = "-".join(time.strftime("%H:%M:%S", time.localtime(result[key])) for key in ("started", "ended"))
    how = "" if result["ran"] else ", restored from the node's DVC cache (an earlier run of the same inputs)"
    where = f", in worker process {result['pid']}" if result.get("in_process") else ""
    return f"done {cell} in {result['seconds']:.0f} s on {result['node']} ({clock}{where}{how})"


def failure_text(exc: BaseException) -> str:
    """Why a task failed: the cell's log for its own failure, the message for a worker's, else the traceback."""
    cause = getattr(exc, "cause", None)  # Ray wraps the task's exception
    if isinstance(cause, CellFailed):
        return f"its command failed; the last lines of its log:\n{cause.log_tail}"
    if isinstance(cause, WorkerError):
        return str(cause)
    return "\n".join(str(exc).strip().splitlines()[-15:]) or type(exc).__name__


def fetch_results(root: Path, entries: list[tuple[str, str]], remote: str) -> None:
    """Bring the cells' run-cache entries, and the files they name, from the remote into this checkout's cache."""
    with dvc_repo(root) as repo:
        odb = repo.cloud.get_remote_odb(remote, "fetch --run-cache", hash_name="md5-dos2unix")
        for key, value in entries:
            local = Path(repo.stage_cache._get_cache_path(key, value))
            if local.is_file():
                continue  # fetched before
            local.parent.mkdir(parents=True, exist_ok=True)
            tmp = local.with_name(f".{value}.tmp")
            odb.fs.get_file(odb.fs.join(odb.path, "runs", key[:2], key, value), str(tmp))
            os.replace(tmp, local)
        for objs in repo.stage_cache.get_used_objs(entries).values():
            result = repo.cloud.pull(objs, remote=remote)
            if result.failed:
                raise BlockzooError(f"{len(result.failed)} result files are missing on remote '{remote}'; "
                                    "run `python -m blockzoo_cluster run` again to redo their cells")


def summary(outcome: Outcome) -> str:
    nodes = sorted({done["node"] for done in outcome.done.values()})
    line = (f"{len(outcome.done)} cells ran on the cluster ({len(nodes)} node{'s' * (len(nodes) != 1)}) "
            f"in {outcome.seconds:.1f} s")
    if outcome.failed or outcome.skipped:
        line += (f"; {len(outcome.failed)} failed ({', '.join(outcome.failed)}), {len(outcome.skipped)} skipped; "
                 "the finished cells are restored here; fix the failure and run the same command again")
    return line
