"""Run the pipeline of the committed code with a named setting, and publish its reports under reference/NAME/.

    python scripts/reference_run.py NAME [OVERRIDE ...]
    python scripts/reference_run.py macro-fashion-mnist setting=macro_tryout
    python scripts/reference_run.py --cluster fashion-mnist setting=reference

--cluster runs the cells through `python -m blockzoo_cluster run` on a local Ray cluster instead of one
`dvc repro` (with cluster.train_cpus=1, as the reference setting has it, one training cell per core at once);
the results are the same files.

The run happens in a temporary worktree of HEAD (so it is the code as committed: commit first), with
params.yaml composed from conf/ and the overrides, through `dvc repro`. Published: the results table(s),
the leaderboard, every figure, the params.yaml it ran with, and RUN.md saying what the run is: setting,
dataset, network, budget, seeds, machine, commit and wall time. `dvc metrics diff` then compares a re-run
with the committed one (dvc.yaml lists the reference folders' cells/, blocks/ and macro/ as metrics).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def sh(cwd: Path, *args: str) -> str:
    proc = subprocess.run(args, cwd=cwd, env=ENV, text=True, capture_output=True)
    if proc.returncode != 0:
        sys.exit(f"error: {' '.join(args)} failed in {cwd}:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return proc.stdout


def describe(params: dict, run: Path, seconds: float, commit: str, overrides: list[str], runner: str) -> str:
    """RUN.md: what the run is and is not."""
    env = {}
    for path in sorted((run / "metrics" / "benchmark").glob("*.json")):
        env = json.loads(path.read_text())["benchmark"]["env"]
        break
    train, data, scaffold = params["train"], params["data"], params["scaffold"]
    cells, macro_cells = params["cells"], params.get("macro_cells", [])
    dynamic = params.get("dynamic") or {"cells": []}
    lines = [
        f"# Reference run: {' '.join(overrides) or 'the default settings'}",
        "",
        f"- What: {len(cells)} block cells and {len(macro_cells)} macro architectures, "
        f"{len(params['seeds'])} seed(s) each ({', '.join(map(str, params['seeds']))}), through {runner}.",
        f"- Data: {data['dataset']}; validation hold-out {data['val_size']} images (split seed {data['split_seed']}); "
        "test accuracy of the best-validation epoch.",
        f"- Network: ScaffoldNet with {scaffold['num_blocks']} block(s) per stage, {scaffold['base_channels']} "
        f"channels in the early stage" + (f"; BLOX networks at width {params['macro']['blox_width']}"
                                          if macro_cells and any(c.startswith("blox-") for c in macro_cells) else ""),
        f"- Budget: recipe {train['recipe']} (macro cells: {params['macro'].get('train') or 'the same'}), "
        f"{train['epochs']} epochs of at most {train['limit_train_batches'] or 'all'} batches of "
        f"{train['batch_size']}.",
        *([f"- Dynamic inference: BlockDrop on {', '.join(dynamic['cells'])} (seed(s) "
           f"{', '.join(map(str, dynamic['seeds']))}), gamma {', '.join(map(str, dynamic['gammas']))}: "
           f"{dynamic['curriculum_epochs']} curriculum + {dynamic['finetune_epochs']} fine-tuning epochs of at most "
           f"{dynamic['limit_train_batches'] or 'all'} batches of {dynamic['batch_size']}; policy widths "
           f"{dynamic.get('policy_widths')} on the image pooled to {dynamic.get('policy_input_size') or 'full'} px."]
          if dynamic["cells"] else []),
        f"- Machine: {env.get('cpu_model', '?')} ({env.get('device', '?')}, {env.get('threads', '?')} threads), "
        f"torch {env.get('torch', '?')}; wall time of the whole run {seconds / 60:.1f} min.",
        f"- Code: commit {commit}. Settings: params.yaml beside this file.",
        "",
        "What it is not: a CIFAR-100 result, nor the accuracy these networks reach with a full budget; it shows the "
        "pipeline end to end with real data and ranks the networks under this short budget only.",
        *dynamic_table(run),
    ]
    return "\n".join(lines) + "\n"


def dynamic_table(run: Path) -> list[str]:
    """RUN.md's table of the dynamic runs, straight from their records."""
    records = [json.loads(path.read_text()) for path in sorted((run / "metrics" / "dynamic").glob("*.json"))]
    if not records:
        return []
    lines = ["", "## Dynamic runs (from metrics/dynamic/*.json)", "",
             "| run | test acc static -> dynamic | blocks used of K | FLOPs/image with policy, blockzoo (static) "
             "| BlockDrop's rule (static) | saved | break-even | distinct policies | latency static -> dynamic, ms "
             "| selected epoch (stage) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for record in records:
        d = record["dynamic"]
        saved = 1 - d["flops_per_image_with_policy_mean"] / d["flops_static"]
        lines.append(
            f"| {record['cell']} s{record['seed']} γ={d['gamma']:g} "
            f"| {d['test_acc_static']:.2%} -> {d['test_acc']:.2%} "
            f"| {d['blocks_used_mean']:.2f} ± {d['blocks_used_std']:.2f} of {d['blocks_droppable']} "
            f"| {d['flops_per_image_with_policy_mean'] / 1e6:.2f} M ({d['flops_static'] / 1e6:.2f} M) "
            f"| {d['flops_blockdrop_per_image_with_policy_mean'] / 1e6:.2f} M "
            f"({d['flops_blockdrop_static'] / 1e6:.2f} M) "
            f"| {saved:.1%} | {d['break_even']:.1%} | {d['distinct_policies']} "
            f"| {d['latency_static_ms']:.2f} -> {d['latency_ms']:.2f} | {d['best_epoch']} ({d['selected_stage']}) |")
    warnings = [f"- {r['cell']} γ={r['dynamic']['gamma']:g}: {r['dynamic']['accuracy_warning']}" for r in records
                if r["dynamic"].get("accuracy_warning")]
    return lines + ([""] + warnings if warnings else [])


def main() -> int:
    args = sys.argv[1:]
    cluster = "--cluster" in args
    if cluster:
        args.remove("--cluster")
    if not args or args[0].startswith("-"):
        sys.exit(__doc__)
    name, overrides = args[0], args[1:]
    if sh(ROOT, "git", "status", "--porcelain", "--", "blockzoo", "stages", "conf", "dvc.yaml").strip():
        print("note: blockzoo/, stages/, conf/ or dvc.yaml have uncommitted changes; the run uses HEAD without them")
    commit = sh(ROOT, "git", "rev-parse", "HEAD").strip()
    target = ROOT / "reference" / name
    with tempfile.TemporaryDirectory(prefix="blockzoo-reference-") as tmp:
        run = Path(tmp) / "run"
        sh(ROOT, "git", "worktree", "add", "--detach", str(run), commit)
        try:
            sh(run, sys.executable, "scripts/compose_params.py", *overrides)
            start = time.perf_counter()
            print(f"running the pipeline of {commit[:8]} with {' '.join(overrides) or 'the defaults'} in {run} ...",
                  flush=True)
            command = ([sys.executable, "-m", "blockzoo_cluster", "run",
                        "--scratch", str(Path(tmp) / "cluster"), *(f"-S{o}" for o in overrides)]
                       if cluster else [sys.executable, "-m", "dvc", "repro"])
            repro = subprocess.run(command, cwd=run, env=ENV)
            if repro.returncode != 0:
                sys.exit(f"error: {' '.join(command[2:4])} failed in {run} (exit {repro.returncode})")
            seconds = time.perf_counter() - start
            params = yaml.safe_load((run / "params.yaml").read_text())
            staging = Path(tmp) / "published"
            shutil.copytree(run / "results", staging / "results")
            shutil.copytree(run / "plots" / "figures", staging / "figures")
            for grid in sorted((run / "plots" / "dynamic").glob("*/images_by_blocks.png")):
                (staging / "figures" / "images_by_blocks").mkdir(parents=True, exist_ok=True)
                shutil.copy2(grid, staging / "figures" / "images_by_blocks" / f"{grid.parent.name}.png")
            shutil.copy2(run / "metrics" / "leaderboard.json", staging / "leaderboard.json")
            for section in ("cells", "blocks", "macro"):  # the metrics files dvc.yaml tracks
                if (run / "metrics" / "headline" / section).is_dir():
                    shutil.copytree(run / "metrics" / "headline" / section, staging / section)
            shutil.copy2(run / "params.yaml", staging / "params.yaml")
            (staging / "RUN.md").write_text(describe(params, run, seconds, commit, overrides,
                                                       runner=("the cluster runner on a local Ray cluster "
                                                               f"({params['cluster']['train_cpus']} core(s) per "
                                                               "training cell)") if cluster else "`dvc repro`"))
            if target.exists():
                shutil.rmtree(target)
            target.parent.mkdir(exist_ok=True)
            shutil.move(str(staging), target)  # the old reports are replaced only once the new ones are complete
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(run)], cwd=ROOT, capture_output=True)
    print(f"published {target.relative_to(ROOT)}/ ({seconds / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
