"""The shape of the code: the library imports nothing of DVC, Ray, Hydra or the cluster runner; its import graph
has no cycle; no module is over 450 lines.

    pytest -q tests/test_structure.py      # what the library imports, its cycles, its long modules, each named
"""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = ROOT / "blockzoo"
# What the library must not load: DVC (dvclive brings it too), Ray and the runner (blockzoo_cluster drives both),
# and Hydra/OmegaConf (conf/ is composed by DVC, outside the library; the library reads no conf/)
FORBIDDEN = ("dvc", "dvclive", "ray", "hydra", "omegaconf", "blockzoo_cluster")
MAX_LINES = 450
# Modules over MAX_LINES that another branch of issue 20 splits; each leaves this list when it is split
BEING_SPLIT: set[str] = set()
CODE_FOLDERS = ("blockzoo", "blockzoo_cluster", "stages", "scripts")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules(package: Path) -> dict[str, Path]:
    """{dotted name: file} of the package and every module under it."""
    return {module_name(path, package.parent): path for path in sorted(package.rglob("*.py"))}


def import_graph(package: Path) -> dict[str, dict[str, int]]:
    """{module: {module of the package it imports: line}}, from every import statement (at module level, inside
    functions, under TYPE_CHECKING); `from a import b` is an import of a.b where a.b is a module, else of a."""
    modules = package_modules(package)
    graph = {}
    for name, path in modules.items():
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        imports: dict[str, int] = {}
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the package `level - 1` folders up
                    up = here.split(".")[: len(here.split(".")) - node.level + 1]
                    base = ".".join([*up, *([base] if base else [])])
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                           for alias in node.names]
            else:
                continue
            for target in targets:
                if target in modules and target != name:
                    imports.setdefault(target, node.lineno)
        graph[name] = imports
    return graph


def find_cycle(graph: dict[str, dict[str, int]]) -> list[str]:
    """One cycle of the graph as [a, b, ..., a], or [] when it has none (a depth-first search)."""
    state: dict[str, str] = {}  # "open" while on the search path, "done" after
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = "open"
        path.append(node)
        for target in graph.get(node, {}):
            if state.get(target) == "open":
                return [*path[path.index(target):], target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        state[node] = "done"
        path.pop()
        return []

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return []


def describe_cycle(cycle: list[str], graph: dict[str, dict[str, int]]) -> str:
    return "; ".join(f"{a} imports {b} (line {graph[a][b]})" for a, b in zip(cycle, cycle[1:], strict=False))


def test_the_library_imports_nothing_of_dvc_ray_hydra_or_the_runner():
    """`import blockzoo` and every module under it, in a fresh process of this checkout: none of FORBIDDEN loaded,
    and where one is, the first module whose import loaded it."""
    script = """
import importlib, json, sys
forbidden, names, first = json.loads(sys.argv[1]), json.loads(sys.argv[2]), {}
for name in names:
    importlib.import_module(name)
    for top in forbidden:
        if top not in first and any(m == top or m.startswith(top + ".") for m in sys.modules):
            first[top] = name
print(json.dumps(first))
"""
    names = list(package_modules(LIBRARY))
    proc = subprocess.run([sys.executable, "-c", script, json.dumps(FORBIDDEN), json.dumps(names)], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    loaded = json.loads(proc.stdout.splitlines()[-1])
    assert len(names) > 50 and "blockzoo.train.module" in names  # every module of the library was imported
    assert not loaded, "the library loads " + "; ".join(f"{top} (first by importing {by})"
                                                        for top, by in loaded.items())


def test_the_library_import_graph_has_no_cycle():
    graph = import_graph(LIBRARY)
    assert sum(len(imports) for imports in graph.values()) > 100  # the graph was read, function level included
    cycle = find_cycle(graph)
    assert not cycle, f"import cycle: {' -> '.join(cycle)}: {describe_cycle(cycle, graph)}"


def test_a_cycle_through_an_import_inside_a_function_is_found_and_named(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.sub import b\n")
    (package / "sub" / "b.py").write_text("import os\n\n\ndef later():\n    from .. import c\n")
    (package / "c.py").write_text("from __future__ import annotations\nfrom pkg import a  # noqa\n")
    graph = import_graph(package)
    assert graph["pkg.sub.b"] == {"pkg.c": 5}
    cycle = find_cycle(graph)
    assert cycle == ["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]
    assert describe_cycle(cycle, graph) == ("pkg.a imports pkg.sub.b (line 1); pkg.sub.b imports pkg.c (line 5); "
                                            "pkg.c imports pkg.a (line 2)")
    (package / "c.py").write_text("import json\n")
    assert find_cycle(import_graph(package)) == []


def test_no_module_is_over_450_lines():
    lengths = {str(path.relative_to(ROOT)): len(path.read_text().splitlines())
               for folder in CODE_FOLDERS for path in sorted((ROOT / folder).rglob("*.py"))}
    long = {path: lines for path, lines in lengths.items() if lines > MAX_LINES and path not in BEING_SPLIT}
    assert not long, f"modules over {MAX_LINES} lines: {long}; split them"
    split = sorted(path for path in BEING_SPLIT if lengths.get(path, 0) <= MAX_LINES)
    assert not split, f"{', '.join(split)}: no longer over {MAX_LINES} lines; take it off BEING_SPLIT"

