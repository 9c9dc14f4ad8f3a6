"""Cells on a real Ray cluster on 127.0.0.1, results back through a DVC remote in a temporary folder.

The tryout's data shape (Debian's Fashion-MNIST), two networks, one position, two seeds: four training
cells and five measuring cells. The first test runs them on a `ray start` cluster of two worker CPUs and
checks that `dvc repro` then restores everything and that the training metrics equal a sequential run's;
the second, on a local cluster that uses the checkout's own DVC cache as its remote, kills the Ray worker
running a training cell and checks that the run still completes, with every cell once and nothing
half-written.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from pipeline_repo import dvc, git_commit_all, make_repo, run, stages_run

from blockzoo.errors import BlockzooError
from blockzoo_cluster.driver import fitted
from blockzoo_cluster.settings import ClusterSettings, check_cluster_settings
from blockzoo_cluster.worker import sweep

SETTING = {
    "zoo": ["ResNetBasicBlock", "MobileOneBlock"], "block": "MobileOneBlock", "positions": ["early"], "seeds": [0, 1],
    "scaffold": {"num_blocks": 1, "base_channels": 8},
    "data": {"dataset": "fashion-mnist", "archive": "/usr/share/datasets/fashion-mnist", "val_size": 200},
    "train": {"epochs": 1, "batch_size": 64, "limit_train_batches": 4, "device": "cpu"},
    "profile": {"memory_batch_size": 2},
    "benchmark": {"device": "cpu", "batch_size": 4, "warmup": 1, "repeats": 2, "threads": 1},
    "cluster": {"train_cpus": 1, "train_gpus": 0, "benchmark_gpus": 0},
}
TRAIN_CELLS = [f"train@{cell}-{seed}" for cell in ("ResNetBasicBlock", "MobileOneBlock-early") for seed in (0, 1)]
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # as each cell gets on the cluster (train_cpus: 1)


@pytest.fixture(scope="module")
def repo(tmp_path_factory, debian_fashion_mnist) -> Path:
    """The test-sized pipeline in a fresh git repository, with a DVC remote in a temporary folder."""
    base = tmp_path_factory.mktemp("cluster")
    repo = make_repo(base / "repo", SETTING)
    dvc(repo, "remote", "add", "-d", "store", str(base / "remote"))
    git_commit_all(repo, "the remote")
    return repo


def cluster(repo: Path, *args: str, scratch: Path | None = None, env: dict | None = None) -> subprocess.Popen:
    """`python -m blockzoo_cluster run ARGS` in `repo`; the nodes' scratch folder beside it unless given."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "blockzoo_cluster", "run", "--scratch",
                             str(scratch or repo.parent / "scratch"), *args], cwd=repo, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finished(proc: subprocess.Popen, timeout: float = 900) -> str:
    output = proc.communicate(timeout=timeout)[0]
    assert proc.returncode == 0, output
    return output


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def ray_cluster(tmp_path):
    """`ray start --head` on 127.0.0.1 with two CPUs (two worker processes run cells at once), with Ray's token
    authentication: yields its address and the environment a client needs to connect."""
    ray = str(Path(sys.executable).parent / "ray")
    port = free_port()
    token = tmp_path / "ray-token"
    token.write_text(secrets.token_hex(32))
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
    temp = Path("/tmp") / f"ray-{port}"  # Ray's socket paths must stay short
    run(tmp_path, ray, "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=2",
        "--num-gpus=0", "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}", env=auth)
    try:
        yield f"127.0.0.1:{port}", auth
    finally:
        run(tmp_path, ray, "stop", "--force", check=False)


def train_metrics(repo: Path, cells: list[str] = TRAIN_CELLS) -> dict[str, dict]:
    records = {}
    for cell in cells:
        name = cell.removeprefix("train@").rsplit("-", 1)
        record = json.loads((repo / "metrics" / "train" / f"{name[0]}-s{name[1]}.json").read_text())
        records[cell] = {key: record["train"][key] for key in ("val_acc", "val_loss", "test_acc", "test_loss",
                                                               "best_epoch", "epochs_run")}
    return records


def test_cells_run_on_a_ray_cluster_and_dvc_restores_them(repo, ray_cluster, tmp_path):
    address, auth = ray_cluster
    unauthorised = cluster(repo, "--address", address)  # without the cluster's token: one line, before any stage
    assert unauthorised.wait(timeout=300) == 2
    text = unauthorised.stdout.read()
    assert f"error: could not connect to the Ray cluster at {address}" in one_line(text) and "Running stage" not in text

    output = finished(cluster(repo, "--address", address, "--remote", "store", env=auth))
    assert "9 cells on 1 Ray node (2 CPUs, 0 GPUs)" in output
    for cell in TRAIN_CELLS:
        assert f"done {cell} in" in output
        assert f"Stage '{cell}' is cached - skipping run" in output  # the driver restored it, did not run it
    assert "Running stage 'aggregate'" in output
    spans = {cell: tuple(time.strptime(clock, "%H:%M:%S")[3:6] for clock in (start, end))
             for cell, start, end in re.findall(r"done (\S+) in \d+ s on \S+ \(([\d:]+)-([\d:]+)[,)]", output)}
    assert len(spans) == 9
    # the training cells ran in their Ray workers' own processes, which Ray kept for the next: on 2 CPUs, some
    # worker trained two of the four (torch imported once for both)
    workers = re.findall(r"done train@\S+ in \d+ s on \S+ \([\d:-]+, in worker process (\d+)\)", output)
    assert len(workers) == 4 and len(set(workers)) < 4, output
    for timing in ("benchmark@ResNetBasicBlock", "benchmark@MobileOneBlock-early", "noise_check@early"):
        start, end = spans[timing]  # timed alone (cluster.exclusive_timing): no other cell overlaps it
        assert not [cell for cell, (a, b) in spans.items() if cell != timing and a < end and start < b], timing

    again = dvc(repo, "repro")  # nothing left: every cell is in dvc.lock as restored
    assert stages_run(again) == set()
    assert "up to date" in dvc(repo, "status").stdout
    head = run(repo, "git", "rev-parse", "HEAD").stdout.strip()
    record = json.loads((repo / "metrics" / "train" / "ResNetBasicBlock-s0.json").read_text())
    assert record["train"]["env"]["git_commit"] == head  # trained in a checkout of this commit
    assert (repo / "runs" / "ResNetBasicBlock-s0" / "checkpoints" / "best.ckpt").is_file()
    assert sorted(json.loads((repo / "metrics" / "leaderboard.json").read_text())["cells"]) == [
        "MobileOneBlock-early", "ResNetBasicBlock-early"]

    # Two of the cells (each network, each seed) trained one after another in a clone, one thread each as on
    # the cluster: equal metrics
    sequential, some = tmp_path / "sequential", [TRAIN_CELLS[0], TRAIN_CELLS[3]]
    run(tmp_path, "git", "clone", "-q", str(repo), str(sequential))
    trained = dvc(sequential, "repro", *some, env=ONE_THREAD)
    assert set(some) <= stages_run(trained)
    assert train_metrics(sequential, some) == train_metrics(repo, some)

    # Another checkout of the commit, on the same cluster: each task finds its cell in the node's DVC cache
    again = tmp_path / "again"
    run(tmp_path, "git", "clone", "-q", str(repo), str(again))
    output = finished(cluster(again, "--address", address, scratch=repo.parent / "scratch", env=auth))
    assert output.count("restored from the node's DVC cache") == 9 and "Running stage 'train@" not in output
    assert train_metrics(again) == train_metrics(repo)


def processes_under(folder: Path) -> dict[int, str]:
    """Live processes working in `folder`: pid -> command line."""
    found = {}
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and Path(os.readlink(proc / "cwd")).is_relative_to(folder):
                found[int(proc.name)] = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # gone, or not ours to read
    return found


def test_a_killed_worker_is_replaced_and_each_cell_lands_once(repo):
    # New seeds: four training cells to run, on a local cluster (no --address) two at a time; no default
    # remote, so the workers send their results to this checkout's own DVC cache
    setting = {**SETTING, "seeds": [2, 3], "dynamic": {"seeds": [2]}}
    (repo / "conf" / "setting" / "default.yaml").write_text("# @package _global_\n" + yaml.safe_dump(setting))
    run(repo, sys.executable, "scripts/compose_params.py")
    dvc(repo, "remote", "default", "--unset")
    git_commit_all(repo, "seeds 2 and 3")
    cells = [cell.replace("-0", "-2").replace("-1", "-3") for cell in TRAIN_CELLS]
    checkouts = repo.parent / "scratch" / "checkouts"

    driver = cluster(repo, "--jobs", "2", "train")
    deadline, killed = time.monotonic() + 600, None
    while killed is None and time.monotonic() < deadline and driver.poll() is None:
        # a training cell runs in its Ray worker's own process (ray::<cell>, blockzoo_cluster.in_process) in
        # the checkout, training once the checkout has its .unfinished run folder
        training = [pid for pid, cmd in processes_under(checkouts).items() if cmd.startswith("ray::train@")
                    and (Path(os.readlink(f"/proc/{pid}/cwd")) / ".unfinished").is_dir()]
        if training:
            killed = training[0]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.2)
    assert killed, f"no training cell was seen running:\n{driver.communicate()[0] if driver.poll() is not None else ''}"
    output = finished(driver)
    assert "A worker died or was killed while executing a task" in output  # Ray's words: it retried the cell
    for cell in cells:
        assert f"done {cell} in" in output and f"Stage '{cell}' is cached - skipping run" in output
    assert output.count("done train@") == 4

    assert stages_run(dvc(repo, "repro", "train")) == set()
    assert processes_under(checkouts) == {}  # the killed cell's processes ended with its worker
    assert list(checkouts.iterdir()) == []  # its checkout was swept by the next task on the node
    assert not (repo / ".unfinished").exists() or not any((repo / ".unfinished").rglob("*.ckpt"))
    # Each cell once in the results and once in the run-cache; no temporary file left there
    from dvc.stage.cache import _get_stage_hash

    from blockzoo.results import read_record
    from blockzoo_cluster.plan import dvc_repo

    remote = repo / ".dvc" / "cache"
    with dvc_repo(repo) as dvc_api:
        for cell in cells:
            (stage,) = dvc_api.stage.collect(cell)
            key = _get_stage_hash(stage)
            assert len(list((remote / "runs" / key[:2] / key).iterdir())) == 1, cell
    for cell in cells:
        name, seed = cell.removeprefix("train@").rsplit("-", 1)
        read_record(repo / "metrics" / "train" / f"{name}-s{seed}.json")  # complete and valid
    assert not [path for path in remote.rglob("*") if path.name.endswith(".tmp") or ".tmp" in path.name]

    # A new block as the README adds it: its file in user_blocks/, its name in the zoo (here the test's setting);
    # not yet committed, the run names the file; committed as the README says, `-S block=MyBlock` runs its cells only
    (repo / "user_blocks" / "my_block.py").write_text(
        "from torch import nn\nfrom blockzoo import register_block\n\n\n@register_block()\n"
        "def MyBlock(in_channels, out_channels, stride, position):\n"
        "    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False),\n"
        "                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))\n")
    setting["zoo"] = [*SETTING["zoo"], "MyBlock"]
    (repo / "conf" / "setting" / "default.yaml").write_text("# @package _global_\n" + yaml.safe_dump(setting))
    untracked = cluster(repo, "-S", "block=MyBlock")
    assert untracked.wait(timeout=300) == 2
    assert one_line(untracked.stdout.read()).startswith("error: user_blocks/my_block.py is not committed")
    run(repo, "git", "add", "user_blocks", "conf")
    run(repo, "git", "commit", "-qam", "my block")
    output = finished(cluster(repo, "-S", "block=MyBlock"))
    done = re.findall(r"done (\S+) in \d+ s", output)
    assert sorted(done) == ["benchmark@MyBlock-early", "profile@MyBlock-early", "train@MyBlock-early-2",
                            "train@MyBlock-early-3"], output
    assert stages_run(dvc(repo, "repro")) == set()


def test_resources_per_kind_of_cell_and_gpus_only_where_there_are_some():
    settings = ClusterSettings(train_cpus=4, train_gpus=0.5, benchmark_cpus=2, profile_cpus=1)
    assert settings.resources("train@RepMixer-mid-0", cluster_has_gpus=True) == {"num_cpus": 4, "num_gpus": 0.5}
    assert settings.resources("dynamic@RepMixer-mid-0-5.0", cluster_has_gpus=False) == {"num_cpus": 4, "num_gpus": 0}
    assert settings.resources("noise_check@early", cluster_has_gpus=True) == {"num_cpus": 2, "num_gpus": 1.0}
    assert settings.resources("profile@RepMixer-mid", cluster_has_gpus=True) == {"num_cpus": 1, "num_gpus": 0}
    assert settings.is_exclusive("noise_check@early") and not settings.is_exclusive("train@RepMixer-mid-0")
    assert not ClusterSettings(exclusive_timing=False).is_exclusive("benchmark@RepMixer-mid")
    nodes = [{"CPU": 2.0}]
    assert fitted({"num_cpus": 4, "num_gpus": 0}, nodes, local=True) == {"num_cpus": 2, "num_gpus": 0}
    one_gpu = [{"CPU": 8.0, "GPU": 1.0}]  # two GPUs asked of a one-GPU machine: its GPU, not the CPU
    assert fitted({"num_cpus": 2, "num_gpus": 2.0}, one_gpu, local=True) == {"num_cpus": 2, "num_gpus": 1.0}
    with pytest.raises(BlockzooError, match="no node of the cluster has"):
        fitted({"num_cpus": 4, "num_gpus": 0}, nodes, local=False)


@pytest.mark.parametrize("params,message", [
    ({"cluster": {"train_gpu": 1}}, "unknown setting 'cluster.train_gpu'; did you mean 'cluster.train_gpus'?"),
    ({"cluster": {"train_cpus": 0}}, "cluster.train_cpus must be a positive integer, got 0"),
    ({"cluster": {"exclusive_timing": "yes"}}, "cluster.exclusive_timing must be true or false, got 'yes'"),
    ({"retries": 3, "cluster": {}}, "unknown setting 'retries'; did you mean 'cluster.retries'?"),
])
def test_a_bad_cluster_setting_is_one_line(params, message):
    """The runner's own section of params.yaml, which the library's check (blockzoo.params) leaves to it."""
    with pytest.raises(BlockzooError) as info:
        check_cluster_settings({"zoo": [], **params})
    assert str(info.value) == message


def test_the_cluster_section_is_read_with_its_defaults():
    assert check_cluster_settings({"cluster": {"train_cpus": 3}}) == ClusterSettings(train_cpus=3)
    assert check_cluster_settings({}) == ClusterSettings()


def test_the_guard_ends_the_whole_command_when_its_parent_is_killed(tmp_path):
    """A worker killed with SIGKILL: the guard below it kills dvc and the stage's process, two levels down."""
    marker = tmp_path / "grandchild.pid"
    grandchild = f"import os, time; open({str(marker)!r}, 'w').write(str(os.getpid())); time.sleep(600)"
    child = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {grandchild!r}])"
    worker = ("import os, subprocess, sys; subprocess.run([sys.executable, '-m', 'blockzoo_cluster.guard', "
              f"str(os.getpid()), sys.executable, '-c', {child!r}])")
    parent = subprocess.Popen([sys.executable, "-c", worker])
    deadline = time.monotonic() + 60
    while not (marker.is_file() and marker.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    pid = int(marker.read_text())
    parent.kill()
    parent.wait()
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        stat = Path(f"/proc/{pid}/stat").read_text() if Path(f"/proc/{pid}/stat").exists() else ""
        if stat and stat.rsplit(")", 1)[1].split()[0] == "Z":
            break  # dead, waiting to be reaped by init
        time.sleep(0.1)
    stat = Path(f"/proc/{pid}/stat")
    assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"


def test_a_dead_tasks_checkout_is_swept_and_a_live_ones_kept(tmp_path):
    import fcntl

    for name in ("dead", "live"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "dead.lock").touch()
    with open(tmp_path / "live.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as a running task holds it (sweep's own open of the file cannot lock it)
        sweep(tmp_path)
        assert not (tmp_path / "dead").exists() and not (tmp_path / "dead.lock").exists()
        assert (tmp_path / "live" / "dvc.yaml").is_file()


def test_uncommitted_changes_and_unknown_targets_stop_with_one_line(repo):
    bad_target = cluster(repo, "no_such_stage")
    assert bad_target.wait(timeout=300) == 2
    assert one_line(bad_target.stdout.read()).startswith("error: no such stage or stage group")
    config = repo / "conf" / "config.yaml"
    text = config.read_text()
    config.write_text(text + "\n# an edit\n")
    try:
        dirty = cluster(repo)
        assert dirty.wait(timeout=300) == 2
        line = one_line(dirty.stdout.read())
        assert "the workspace differs from its commit in conf/config.yaml" in line and "commit" in line
    finally:
        config.write_text(text)


def one_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in output, output
    return lines[0]


def test_a_new_block_file_not_in_git_is_the_file_named_and_other_results_are_not(tmp_path):
    from blockzoo_cluster.plan import uncommitted, uncommitted_error

    run(tmp_path, "git", "init", "-q")
    for name in ("conf/config.yaml", "metrics/train/MobileOneBlock-mid-s0.json", "params.yaml"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("committed\n")
    run(tmp_path, "git", "add", "-A")
    run(tmp_path, "git", "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "-m", "c")
    (tmp_path / "user_blocks").mkdir()
    (tmp_path / "user_blocks" / "my_block.py").write_text("# a block\n")
    (tmp_path / "metrics/train/MobileOneBlock-mid-s0.json").write_text("another setting's result\n")
    (tmp_path / "metrics/train/MobileOneBlock-late-s0.json").write_text("and another\n")
    (tmp_path / "params.yaml").write_text("composed by the driver\n")
    outputs = ["metrics/train/MyBlock-early-s0.json"]
    assert uncommitted(tmp_path, outputs) == ["user_blocks/my_block.py"]
    message = str(uncommitted_error(tmp_path, ["user_blocks/my_block.py", "README.md"]))
    assert message.startswith("user_blocks/my_block.py is not committed")
    assert "`git add user_blocks/my_block.py`" in message
    (tmp_path / "user_blocks" / "my_block.py").unlink()
    (tmp_path / "conf" / "config.yaml").write_text("edited\n")
    assert "differs from its commit in conf/config.yaml" in str(uncommitted_error(tmp_path, uncommitted(tmp_path, [])))


def test_a_second_run_in_the_same_checkout_stops_and_the_scratch_folder_is_the_users(tmp_path, monkeypatch):
    from blockzoo_cluster.driver import default_scratch, one_run_per_checkout

    with one_run_per_checkout(tmp_path):
        with pytest.raises(BlockzooError, match=rf"another `python -m blockzoo_cluster run` is running in this "
                                                rf"checkout \(pid {os.getpid()}\)"):
            with one_run_per_checkout(tmp_path):
                pass
    with one_run_per_checkout(tmp_path):  # released when the run ended
        pass
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("getpass.getuser", lambda: "ada")
    assert default_scratch() == str(tmp_path / "blockzoo-cluster-ada")


@pytest.mark.parametrize("override", ["setting", "=tryout", "+=1"])
def test_a_malformed_setting_override_is_one_line_before_anything_runs(override, capsys):
    from blockzoo_cluster.__main__ import main

    assert main(["run", "-S", override]) == 2
    assert capsys.readouterr().err.startswith("error: -S takes KEY=VALUE")


def timing_repo(root: Path) -> Path:
    """A two-cell DVC pipeline, run once: its benchmark stage writes a record timed busy where a busy-CELL file
    says the machine was busy (the injected load), here for A."""
    root.mkdir()
    dvc(root, "init", "--no-scm", "-q")
    (root / "write.py").write_text("import json, os, sys\nopen(f'metrics/benchmark/{sys.argv[1]}.json', 'w').write("
                                   "json.dumps({'benchmark': {'busy': os.path.exists(f'busy-{sys.argv[1]}')}}))\n")
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": {
        "benchmark": {"matrix": {"cell": ["A", "B"]}, "cmd": "python write.py ${item.cell}", "deps": ["write.py"],
                      "outs": [{"metrics/benchmark/${item.cell}.json": {"cache": False}}]},
        "aggregate": {"cmd": "python -c \"open('board.txt', 'w').write('x')\"", "deps": ["metrics/benchmark"],
                      "outs": [{"board.txt": {"cache": False}}]}}}))
    (root / "metrics" / "benchmark").mkdir(parents=True)
    (root / "busy-A").touch()
    dvc(root, "repro")
    (root / "busy-A").unlink()  # the machine is quiet from now on
    return root


def test_a_latency_timed_busy_is_timed_again_once_the_machine_is_quiet(tmp_path, capsys):
    from blockzoo_cluster.driver import dvc as driver_dvc
    from blockzoo_cluster.retime import busy_timings, retime

    root = timing_repo(tmp_path / "repo")
    assert busy_timings(root) == ["benchmark@A"]
    load, slept = [0.9, 0.6, 0.05], []  # others' CPU share, as the machine goes quiet
    code = retime(root, 600, lambda *a: driver_dvc(root, *a), others_share=lambda: load.pop(0), sleep=slept.append,
                  clock=lambda: 0.0)
    out = capsys.readouterr().out
    assert code == 0 and slept == [10.0, 10.0] and not load
    assert "timing again 1 latencies measured busy: benchmark@A" in out
    assert "Running stage 'benchmark@A'" in out and "Running stage 'aggregate'" in out
    assert "Running stage 'benchmark@B'" not in out  # timed quiet: kept
    assert busy_timings(root) == [] and stages_run(dvc(root, "repro")) == set()

    # A machine that stays busy: nothing runs, one line says so, the cell stays marked
    (root / "metrics" / "benchmark" / "A.json").write_text(json.dumps({"benchmark": {"busy": True}}))
    calls, now = [], iter(range(0, 10_000, 10))
    assert retime(root, 60, lambda *a: calls.append(a), others_share=lambda: 0.7, sleep=lambda s: None,
                  clock=lambda: float(next(now))) == 1
    assert calls == [] and busy_timings(root) == ["benchmark@A"]
    assert "other processes use 70% of the CPUs): 1 latencies stay marked (benchmark@A); run `make retime`" in (
        capsys.readouterr().out)


def test_why_names_the_block_file_or_setting_that_changed_a_cells_spec():
    from blockzoo_cluster.why import spec_changes, status_reason

    def spec(sha="a", train=None, torch="2.0"):
        fingerprint = {"source": "user_blocks/my_block.py", "sha256": sha, "libraries": {"torch": torch}}
        base = {"source": "blockzoo/blocks/resnet.py", "sha256": "r", "libraries": {"torch": torch}}
        return {"cell": {"name": "MyBlock-mid", "blocks": {"MyBlock": fingerprint, "ResNetBasicBlock": base}},
                "cell_train": train or {}}

    assert spec_changes(spec(), spec()) == []
    assert spec_changes(spec(), spec(sha="b")) == ["user_blocks/my_block.py changed (MyBlock)"]
    assert spec_changes(spec(), spec(train={"lr": 0.05})) == ["its block_settings train changed"]
    assert spec_changes(spec(), spec(torch="2.1")) == ["the library versions of MyBlock changed",
                                                      "the library versions of ResNetBasicBlock changed"]
    assert spec_changes(None, spec()) == ["a new cell (no spec in pipeline/cells/ yet)"]
    reason = status_reason([{"changed deps": {"pipeline/cells/MyBlock-mid.json": "modified", "stages/train.py":
                                              "modified"}}, {"changed params": {"train.epochs": "modified"}}])
    assert reason == "deps stages/train.py (modified); params train.epochs (modified)"
