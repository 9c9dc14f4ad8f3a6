"""A fresh git repository made from this checkout, with a test-sized setting: for the pipeline and cluster tests."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
GENERATED = ["dvc.lock", "metrics", "results", "plots/figures", "plots/curves", "pipeline", "runs", "data"]


def run(repo: Path, *args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", **(env or {})}
    start = time.perf_counter()
    proc = subprocess.run([*args], cwd=repo, env=env, capture_output=True, text=True, timeout=900)
    print(f"{time.perf_counter() - start:6.1f} s  {' '.join(args[1:] if args[0] == sys.executable else args)}")
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def dvc(repo: Path, *args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    return run(repo, sys.executable, "-m", "dvc", *args, check=check, env=env)


def compose(repo: Path) -> None:
    run(repo, sys.executable, "scripts/compose_params.py")


def stages_run(proc: subprocess.CompletedProcess) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", proc.stdout + proc.stderr))


def git_commit_all(repo: Path, message: str) -> None:
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-q", "--allow-empty", "-m", message)


def copy_checkout(repo: Path) -> None:
    """Copy this checkout's files to `repo`, without generated results (the folders git keeps stay, empty)."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True,
                            check=True)
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = ROOT / name
        if source.is_symlink() or source.is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name, follow_symlinks=False)
    for name in GENERATED:
        path = repo / name
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    for name in filter(None, listed.stdout.decode().split("\0")):
        if name.endswith("/.gitkeep"):
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            (repo / name).touch()


def make_repo(repo: Path, setting: dict) -> Path:
    """A git repository at `repo`: this checkout's files, no results, `setting` as the default setting."""
    copy_checkout(repo)
    (repo / "conf" / "setting" / "default.yaml").write_text("# @package _global_\n" + yaml.safe_dump(setting))
    run(repo, "git", "init", "-q")
    run(repo, "git", "config", "user.email", "test@example.com")
    run(repo, "git", "config", "user.name", "test")
    compose(repo)
    git_commit_all(repo, "blockzoo copy")
    return repo
