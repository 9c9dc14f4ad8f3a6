"""Which project files each DVC stage's command imports, followed through the project, against dvc.yaml.

    python scripts/stage_deps.py            # every stage: the project files it imports, and what dvc.yaml misses
    python scripts/stage_deps.py --check    # exit 1 when a stage misses a file, or lists one it does not import
                                            # (tests/test_settings.py runs this)
    python scripts/stage_deps.py --fix      # add what each stage misses to dvc.yaml (comments and order kept)

Imports are read from the source (every import statement, also those inside functions), so a lazy
import counts. Imports made by name at run time (importlib) are not followed: the blocks' own modules,
which the cell stages load that way, are fingerprinted in each cell's spec (stages/cells.py) instead.
"""
from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
STAGE_SCRIPT = re.compile(r"python (stages/\S+\.py)")

# Files that cannot change any output, so no stage needs to depend on them: the one exemption list.
EXEMPT = {
    "blockzoo/errors.py": "error classes and the CLI wrapper that prints them",
    "blockzoo/cli.py": "command-line parsing and printing",
    "blockzoo/__init__.py": "the version string and lazy exports (the stages import from the modules)",
}


def module_file(name: str, search: list[Path]) -> Path | None:
    """The project file of an importable module name, or None for one outside the project."""
    parts = name.split(".")
    for base in search:
        for candidate in (base.joinpath(*parts).with_suffix(".py"), base.joinpath(*parts, "__init__.py")):
            if candidate.is_file():
                return candidate
    return None


def imported_files(path: Path, search: list[Path]) -> set[Path]:
    """The project files that importing `path` (run as a script) imports, directly or not."""
    seen: set[Path] = set()
    todo = [path]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for name in _imported_names(current):
            name = _lazy_export(name, search) or name
            parts = name.split(".")
            for depth in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__ too
                found = module_file(".".join(parts[:depth]), search)
                if found is not None:
                    todo.append(found)
    return seen


def _lazy_export(name: str, search: list[Path]) -> str | None:
    """The module behind `package.Name` when the package exports Name lazily (blockzoo/__init__.py's _EXPORTS)."""
    package, _, attribute = name.rpartition(".")
    init = module_file(package, search) if package else None
    if init is None or init.name != "__init__.py" or module_file(name, search) is not None:
        return None
    for node in ast.walk(ast.parse(init.read_text())):
        if isinstance(node, ast.AnnAssign | ast.Assign):
            targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets
            if any(isinstance(t, ast.Name) and t.id == "_EXPORTS" for t in targets) and node.value is not None:
                return ast.literal_eval(node.value).get(attribute)
    return None


def _imported_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)  # a submodule, when it is one
    return names


def stage_scripts(dvc_yaml: dict, root: Path = ROOT) -> dict[str, tuple[Path, list[str]]]:
    """{stage: (its script, its deps)} for every stage of dvc.yaml."""
    stages = {}
    for name, stage in dvc_yaml["stages"].items():
        match = STAGE_SCRIPT.search(stage["cmd"])
        if match:
            stages[name] = (root / match[1], [str(dep) for dep in stage.get("deps", [])])
    return stages


def covered(relpath: str, deps: list[str]) -> bool:
    return any(relpath == dep or relpath.startswith(dep.rstrip("/") + "/") for dep in deps)


def missing_deps(root: Path = ROOT) -> dict[str, list[str]]:
    """{stage: [project files its command imports that dvc.yaml does not list, nor EXEMPT]}."""
    dvc_yaml = yaml.safe_load((root / "dvc.yaml").read_text())
    missing = {}
    for stage, (script, deps) in stage_scripts(dvc_yaml, root).items():
        files = imported_files(script, [script.parent, root])
        relpaths = sorted(str(f.relative_to(root)) for f in files)
        missing[stage] = [p for p in relpaths if p not in EXEMPT and not covered(p, deps)]
    return missing


def unneeded_deps(root: Path = ROOT) -> dict[str, list[str]]:
    """{stage: [project .py files dvc.yaml lists as its deps that its command does not import]}: each re-runs the
    stage's cells for nothing when it changes (a folder listed, e.g. blockzoo/profile, is not reported)."""
    dvc_yaml = yaml.safe_load((root / "dvc.yaml").read_text())
    unneeded = {}
    for stage, (script, deps) in stage_scripts(dvc_yaml, root).items():
        files = {str(f.relative_to(root)) for f in imported_files(script, [script.parent, root])}
        unneeded[stage] = [dep for dep in deps if dep.endswith(".py") and dep not in files]
    return unneeded


def add_missing_deps(missing: dict[str, list[str]], root: Path = ROOT) -> int:
    """Add each stage's missing files to its deps in dvc.yaml (after its own script), keeping comments."""
    from ruamel.yaml import YAML

    yaml_rt = YAML()
    yaml_rt.width = 120
    path = root / "dvc.yaml"
    document = yaml_rt.load(path.read_text())
    added = 0
    for stage, files in missing.items():
        deps = document["stages"][stage].setdefault("deps", [])
        for file in files:
            deps.append(file)
            added += 1
        if files:  # the stage's scripts first, then the rest in name order
            scripts = [d for d in deps if str(d).startswith("stages/")]
            rest = sorted(d for d in deps if not str(d).startswith("stages/"))
            deps[:] = scripts + rest
    with open(path, "w") as f:
        yaml_rt.dump(document, f)
    return added


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when a stage misses a file")
    parser.add_argument("--fix", action="store_true", help="add the missing files to the stages' deps in dvc.yaml")
    args = parser.parse_args()
    if args.fix:
        fixed = add_missing_deps(missing_deps())
        print(f"added {fixed} deps to dvc.yaml" if fixed else "dvc.yaml misses nothing")
        return 0
    dvc_yaml = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    missing, unneeded = missing_deps(), unneeded_deps()
    for stage, (script, _deps) in stage_scripts(dvc_yaml).items():
        files = sorted(str(f.relative_to(ROOT)) for f in imported_files(script, [script.parent, ROOT]))
        if not args.check:
            print(f"{stage}: imports {', '.join(f for f in files if f not in EXEMPT)}")
        for path in missing[stage]:
            print(f"{stage}: dvc.yaml misses {path}")
        for path in unneeded[stage]:
            print(f"{stage}: dvc.yaml lists {path}, which it does not import (remove it)")
    return 1 if any(missing.values()) or any(unneeded.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
