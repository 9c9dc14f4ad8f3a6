"""The driver's view of the pipeline, through DVC: whether the workspace is committed, the remote, the cells to run.

A cell is a matrix stage of dvc.yaml (its address has an '@': train@RepMixer-mid-0). The stages that are
not cells run on the driver: the shared ones the cells depend on (download, cells) before, aggregate after.
"""
from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from blockzoo.errors import BlockzooError


def is_cell(stage: str) -> bool:
    return "@" in stage


@contextmanager
def dvc_repo(root: Path) -> Iterator:
    """DVC's Repo of the checkout at `root`, with the working directory there (DVC reads stage paths from it)."""
    from dvc.repo import Repo

    before = os.getcwd()
    os.chdir(root)
    try:
        with Repo(str(root)) as repo:
            yield repo
    finally:
        os.chdir(before)


def git(root: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BlockzooError(f"git {' '.join(args)} failed in {root}: {proc.stderr.strip().splitlines()[-1:]}")
    return proc.stdout


def repo_root(start: Path) -> Path:
    proc = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=start, capture_output=True, text=True)
    root = Path(proc.stdout.strip()) if proc.returncode == 0 else None
    if root is None or not (root / "dvc.yaml").is_file():
        raise BlockzooError(f"{start} is not in a git checkout of a DVC pipeline (no dvc.yaml at its top); "
                            "run this in the blockzoo checkout")
    return root


def uncommitted(root: Path, outputs: list[str]) -> list[str]:
    """Files that differ from HEAD (or are untracked and not ignored), except the pipeline's own outputs and the
    other results beside them (another setting's cells, which no worker reads) and params.yaml (the driver composes
    it and sends it to the workers). Untracked files under user_blocks/ and conf/ come first: a new block's file."""
    status = git(root, "status", "--porcelain=v1", "-z", "--untracked-files=all")
    entries = [(entry[:2], entry[3:]) for entry in status.split("\0") if len(entry) > 3]
    generated = ("dvc.lock", "params.yaml", *outputs)
    folders = {str(Path(out).parent) for out in outputs} - {"."}  # results of other cells land beside these
    changed = [(code, path) for code, path in entries
               if not any(path == out or path.startswith(out.rstrip("/") + "/") for out in generated)
               and not any(path.startswith(folder + "/") for folder in folders)]
    new_input = [path for code, path in changed if code == "??" and path.startswith(("user_blocks/", "conf/"))]
    return new_input + [path for _, path in changed if path not in new_input]


def uncommitted_error(root: Path, changed: list[str]) -> BlockzooError:
    """The one line for a workspace that differs from its commit: the first file named is the one that matters."""
    first = changed[0]
    if first.startswith(("user_blocks/", "conf/")) and not git(root, "ls-files", "--", first).strip():
        return BlockzooError(f"{first} is not committed (git does not track it), and the workers check out the commit: "
                             f"`git add {first}` and commit it first" + (f" ({len(changed) - 1} other files differ "
                                                                         "too)" if len(changed) > 1 else ""))
    more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
    return BlockzooError(f"the workspace differs from its commit in {', '.join(changed[:3])}{more}: workers "
                         "check out the commit, so commit (or stash) these changes first")


class Pipeline:
    """DVC's index of the checkout at `root`, read once."""

    def __init__(self, root: Path, targets: list[str]):
        import networkx as nx
        from dvc.repo import Repo

        self.root = root
        self.repo = Repo(str(root))
        try:
            chosen = [stage for target in (targets or [None]) for stage in self.repo.stage.collect(target)]
        except Exception as exc:  # DVC's own message names the unknown target
            raise BlockzooError(f"no such stage or stage group: {exc}; see `dvc stage list`") from None
        graph = self.repo.index.graph  # edges run from a stage to the stages it depends on
        self.graph = nx.DiGraph((a.addressing, b.addressing) for a, b in graph.edges)
        self.graph.add_nodes_from(stage.addressing for stage in graph.nodes)
        selected = {stage.addressing for stage in chosen}
        self.stages = selected | {up for stage in selected for up in nx.descendants(self.graph, stage)}

    def close(self) -> None:
        self.repo.close()

    def outputs(self) -> list[str]:
        return sorted({str(Path(out.fs_path).relative_to(self.root)) for out in self.repo.index.outs})

    def shared(self) -> list[str]:
        """Non-cell stages that some selected cell depends on."""
        import networkx as nx

        ups = {up for stage in self.stages if is_cell(stage) for up in nx.descendants(self.graph, stage)}
        return sorted(stage for stage in ups if not is_cell(stage))

    def stale_cells(self) -> list[str]:
        """The selected cells `dvc repro` would run now: changed ones and every cell downstream of them."""
        import networkx as nx

        cells = {stage for stage in self.stages if is_cell(stage)}
        changed = set(self.repo.status(targets=sorted(cells)) or {})
        stale = changed | {down for stage in changed for down in nx.ancestors(self.graph, stage)}  # its dependents
        return list(reversed(list(nx.topological_sort(self.graph.subgraph(stale & cells)))))

    def upstream(self, cells: list[str]) -> list[str]:
        """The stages the given cells depend on that are not among them (up to date here)."""
        import networkx as nx

        ups = {up for cell in cells for up in nx.descendants(self.graph, cell)} - set(cells)
        return list(reversed(list(nx.topological_sort(self.graph.subgraph(ups)))))

    def needs(self, cells: list[str]) -> dict[str, list[str]]:
        import networkx as nx

        pending = set(cells)
        return {cell: sorted(nx.descendants(self.graph, cell) & pending) for cell in cells}

    def remote(self, name: str | None) -> tuple[str, dict]:
        """The DVC remote's name and config (url made absolute), from .dvc/config and config.local."""
        config = self.repo.config
        name = name or config["core"].get("remote")
        if not name:
            raise BlockzooError("no DVC remote: add one every node can reach (`dvc remote add -d store /shared/"
                                "blockzoo-remote`, or S3, SSH; docs/cluster.md) or name one with --remote")
        if name not in config["remote"]:
            known = ", ".join(config["remote"]) or "none"
            raise BlockzooError(f"no DVC remote named '{name}' (configured: {known}); add it with "
                                f"`dvc remote add {name} URL`")
        return name, dict(config["remote"][name])
