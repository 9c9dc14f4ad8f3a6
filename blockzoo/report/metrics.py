"""The leaderboard as the small metrics files DVC shows well: one JSON per cell, per block and per macro
architecture, each with the same few flat keys, so `dvc metrics show` prints a row per file and a column per
headline number (lines under 200 characters) and `dvc metrics diff` shows what moved.

Layout of a metrics folder (metrics/headline in the pipeline, each reference folder itself):
    cells/<cell>.json           acc, ci_low, ci_high, vs_base, verdict, rank, improving, latency_ms, mflops
    blocks/<block>.json         acc (mean over positions), best (position), sens (position sensitivity, points)
    macro/<architecture>.json   acc, latency_ms, mflops (runs with macro architectures; one block in every stage
                                is named 3xBlock, so the longest path stays short: metrics_file_name)
DVC prints one table of the union of the keys, so every new key widens every line: the sensitivity's interval
(position_sensitivity_ci95_low/high) is in leaderboard.json only; with it the macro reference's lines passed 200.
The full leaderboard (every cell's headline, the noise check, the dynamic runs, the macro Pareto fronts) is
leaderboard.json (metrics/leaderboard.json, reference/<name>/leaderboard.json), for reading; DVC does not track
it as metrics (it flattens into one line of thousands of characters).
"""
from __future__ import annotations

import shutil
from pathlib import Path

from blockzoo import atomic
from blockzoo.report.leaderboard import build_leaderboard, leaderboard_table, noise_check, noise_line, rank_range
from blockzoo.report.summary import seed_accuracies

# short key in the metrics file <- column of the leaderboard table, with the digits kept
CELL_KEYS = {"acc": ("test_acc_mean", 4), "ci_low": ("test_acc_ci95_low", 4), "ci_high": ("test_acc_ci95_high", 4),
             "vs_base": ("diff_vs_baseline", 4), "verdict": ("verdict", None), "rank": (None, None),
             "improving": ("still_improving", None), "latency_ms": ("latency_b1_ms", 3), "mflops": ("mflops", 2)}
SECTIONS = ("cells", "blocks", "macro")


def cell_metrics(row: dict) -> dict:
    """The metrics file of one leaderboard row (a dict of leaderboard_table's columns)."""
    out = {}
    for key, (column, digits) in CELL_KEYS.items():
        value = rank_range(row["rank_best"], row["rank_worst"]) if key == "rank" else row[column]
        out[key] = _clean(value, digits)
    if str(row.get("busy")).strip().lower() in ("true", "1"):
        out["latency_ms"] = None  # timed on a busy machine: not a headline until `make retime` times it again
    return out


def block_metrics(summary: dict) -> dict:
    """The metrics file of one block, from build_leaderboard()'s `blocks` entry."""
    return {"acc": summary["test_acc_mean"], "best": summary["best_position"], "sens": summary["position_sensitivity"]}


def architecture_metrics(entry: dict) -> dict:
    """The metrics file of one macro architecture, from MacroDataset.leaderboard()'s `architectures` entry."""
    return {"acc": _clean(entry.get("test_acc"), 4), "latency_ms": _clean(entry.get("latency_ms"), 3),
            "mflops": _clean(None if entry.get("flops") is None else entry["flops"] / 1e6, 2)}


def metrics_file_name(name: str) -> str:
    """A metrics file's name: the cell, block or architecture name, with an architecture of one block in every
    stage written 3xBlock (DVC pads every line to its longest path: A+A+A under reference/dynamic-fashion-mnist
    made `dvc metrics show` 206 characters wide)."""
    stages = name.split("+")
    return f"{len(stages)}x{stages[0]}" if len(stages) > 1 and len(set(stages)) == 1 else name


def write_metrics(folder: str | Path, table, leaderboard: dict) -> list[Path]:
    """Write the cells/, blocks/ and macro/ metrics files of a run into `folder`, replacing what those
    sections held (a cell no longer in the run leaves no stale file); returns the files written."""
    folder = Path(folder)
    files = {"cells": {row["cell"]: cell_metrics(row) for row in table.to_dict("records")},
             "blocks": {block: block_metrics(s) for block, s in leaderboard.get("blocks", {}).items()},
             "macro": {arch: architecture_metrics(entry) for arch, entry
                               in leaderboard.get("macro", {}).get("architectures", {}).items()}}
    written = []
    for section in SECTIONS:
        if (folder / section).is_dir():
            shutil.rmtree(folder / section)
        for name, values in files[section].items():
            path = folder / section / f"{metrics_file_name(name)}.json"
            atomic.write_json(path, values)
            written.append(path)
    return written


def publish(frame, curves, results_dir: str | Path, leaderboard_json: str | Path, metrics_dir: str | Path,
            extra: dict | None = None):
    """Every leaderboard output of a results frame: results_dir/leaderboard.csv (every column) and
    noise_check.json, the full leaderboard_json (with `extra` entries: dynamic, macro) and the metrics files
    (write_metrics). Returns (table, noise check or None, leaderboard dict)."""
    table, check = leaderboard_table(frame, curves), noise_check(frame)
    atomic.write_text(Path(results_dir) / "leaderboard.csv",
                      table.to_csv(index=False, float_format="%.6g", lineterminator="\n"))
    if check is not None:
        atomic.write_json(Path(results_dir) / "noise_check.json", {**check, "line": noise_line(check)})
    leaderboard = {**build_leaderboard(table, check, seed_accuracies(frame)), **(extra or {})}
    atomic.write_json(leaderboard_json, leaderboard)
    write_metrics(metrics_dir, table, leaderboard)
    return table, check, leaderboard


def _clean(value, digits):
    if value is None or (not isinstance(value, str) and value != value):
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bool) or isinstance(value, str) or digits is None:
        return value
    return round(float(value), digits)
