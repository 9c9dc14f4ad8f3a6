"""The one results schema: write, read, query.

A record is a nested dict, one per cell (and seed):
    {"cell": ..., "block": ..., "position": ..., "seed": ..., "scaffold": {...},
     "profile": {...}, "benchmark": {...}, "train": {...}}
Each section is optional; each measuring section carries an "env" sub-dict saying where it was
measured. Flattened with dots ("profile.flops_total", "train.env.torch") the record is one row of
results.csv. SCHEMA below is the single definition of every column; every write validates.
"""
from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blockzoo import atomic
from blockzoo.errors import BlockzooError


@dataclass(frozen=True)
class Column:
    name: str
    type: type
    doc: str
    required: bool = False


_ENV = [
    ("python", str, "Python version"),
    ("torch", str, "PyTorch version"),
    ("torchvision", str, "torchvision version"),
    ("timm", str, "timm version"),
    ("platform", str, "OS and architecture"),
    ("device", str, "device type the section ran on (cpu/cuda)"),
    ("cpu_model", str, "CPU model name"),
    ("gpu_model", str, "GPU model name, empty on CPU"),
    ("threads", int, "torch intra-op threads"),
    ("git_commit", str, "blockzoo commit; '-dirty' when its code differed"),
]


def _section(prefix: str, columns: list[tuple[str, type, str]]) -> list[Column]:
    env = [Column(f"{prefix}.env.{name}", typ, doc) for name, typ, doc in _ENV]
    return [Column(f"{prefix}.{name}", typ, doc) for name, typ, doc in columns] + env


_STAGES = ("stem", "early", "mid", "late", "head")
_PER_STAGE = [
    column
    for stage in _STAGES
    for column in (
        (f"params_{stage}", int, f"parameters of the {stage} stage, train form"),
        (f"params_{stage}_deploy", int, f"parameters of the {stage} stage, deploy form"),
        (f"flops_{stage}", int, f"FLOPs of the {stage} stage, train form"),
        (f"flops_{stage}_deploy", int, f"FLOPs of the {stage} stage, deploy form"),
    )
]

SCHEMA_COLUMNS: list[Column] = [
    Column("cell", str, "the network measured: <block>-<position>, or the baseline block alone", required=True),
    Column("block", str, "registered block name, with .variant for a variant (empty for a macro architecture)"),
    Column("position", str, "stage under test: early, mid or late (empty for the baseline network's own record)"),
    Column("space", str, "the macro space of a macro architecture: blox or zoo (empty for a block's cell)"),
    Column("arch", str, "the canonical architecture vector of a macro architecture, as JSON"),
    Column("seed", int, "training seed (empty for profile/benchmark-only rows)"),
    Column("scaffold.num_blocks", int, "blocks per stage"),
    Column("scaffold.base_channels", int, "channels of the early stage"),
    Column("scaffold.num_classes", int, "classifier outputs"),
    Column("scaffold.in_chans", int, "input channels"),
    Column("scaffold.input_size", int, "input height and width"),
    *_section("profile", [
        ("params_total", int, "parameters of the whole net, train form"),
        ("params_total_deploy", int, "parameters of the whole net, deploy (re-parameterised) form"),
        ("params_active", int, "parameters of the active stage, train form"),
        ("params_active_deploy", int, "parameters of the active stage, deploy form"),
        ("flops_total", int,
         "FLOPs of the whole net for one image, train form (1 multiply-add or 1 elementwise op = 1)"),
        ("flops_total_deploy", int, "as flops_total, deploy form"),
        ("flops_total_fvcore", int,
         "fvcore's default op set only (no elementwise ops), train form: BlockZoo 0.3.0's count"),
        ("flops_active", int, "FLOPs of the active stage, train form"),
        ("flops_active_deploy", int, "FLOPs of the active stage, deploy form"),
        *_PER_STAGE,
        ("unsupported_ops", str, "ops nobody counted, as op:count;op:count (train form)"),
        ("memory_device", str, "device the memory was measured on"),
        ("memory_batch_size", int, "batch size of the memory measurement"),
        ("memory_forward_bytes", int, "peak memory of an eval forward pass above the resident model, bytes"),
        ("memory_train_step_bytes", int,
         "peak memory of one training step (forward, backward, SGD step) above the resident model, bytes"),
    ]),
    *_section("benchmark", [
        ("device", str, "cpu or cuda"),
        ("dtype", str, "float32, bfloat16 or float16"),
        ("channels_last", bool, "channels-last memory format"),
        ("threads", int, "torch intra-op threads"),
        ("batch_size", int, "the large batch size"),
        ("warmup", int, "untimed warm-up iterations"),
        ("repeats", int, "timed iterations"),
        ("latency_b1_ms", float, "deploy form, batch 1: median latency, ms"),
        ("latency_b1_ms_p10", float, "deploy form, batch 1: 10th percentile, ms"),
        ("latency_b1_ms_p90", float, "deploy form, batch 1: 90th percentile, ms"),
        ("latency_ms", float, "deploy form, large batch: median latency, ms"),
        ("latency_ms_p10", float, "deploy form, large batch: 10th percentile, ms"),
        ("latency_ms_p90", float, "deploy form, large batch: 90th percentile, ms"),
        ("throughput", float, "deploy form, large batch: images/s from the median"),
        ("train_form_latency_b1_ms", float, "train form (not re-parameterised), batch 1: median, ms"),
        ("train_form_latency_ms", float, "train form, large batch: median, ms"),
        ("train_form_throughput", float, "train form, large batch: images/s"),
        ("latency_spread", float, "deploy form: the larger (p90 - p10) / median of batch 1 and the large batch"),
        ("rounds", int, "rounds of timed iterations run until the spread was small (at most 4)"),
        ("stable", bool, "every deploy timing reached a spread within 10% on a machine that was not busy"),
        ("busy", bool, "other processes used over 25% of the CPUs while a deploy timing ran: latency not trusted"),
        ("others_cpu_share", float, "other processes' share of the CPUs during the deploy timings, 0..1 (Linux)"),
        ("own_cpu_share", float, "CPU time the timing got / (wall time x torch threads), the lowest of the timings"),
        ("load_avg_1m", float, "1-minute load average after the large-batch timing"),
    ]),
    *_section("train", [
        ("dataset", str, "cifar100, cifar10 or fashion-mnist"),
        ("recipe", str, "training recipe name"),
        ("epochs", int, "epochs asked for"),
        ("batch_size", int, "training batch size"),
        ("status", str, "completed or diverged"),
        ("compiled", bool, "the network ran through torch.compile"),
        ("first_epoch_excess_s", float,
         "seconds the first epoch took beyond the steady rate: warm-up, and with compile the compile time"),
        ("epochs_run", int, "epochs actually run"),
        ("diverged_epoch", int, "epoch at which the loss became non-finite, if it did"),
        ("best_epoch", int, "epoch of the best validation accuracy (0-based)"),
        ("val_acc", float, "validation accuracy at the best epoch, 0..1"),
        ("val_loss", float, "validation loss at the best epoch"),
        ("test_acc", float, "test accuracy of the best checkpoint, 0..1"),
        ("test_loss", float, "test loss of the best checkpoint"),
        ("wall_time_s", float, "training wall time, seconds"),
        ("throughput", float, "training images/s"),
        ("precision", str, "Lightning precision setting"),
    ]),
    *_section("dynamic", [
        ("gamma", float, "BlockDrop's penalty of a wrong prediction in fine-tuning"),
        ("fallback", str, "what a skipped block without its own shortcut falls back to: shortcut (none: always on) "
                          "or parameter-free"),
        ("epochs", int, "policy training epochs (curriculum + fine-tuning)"),
        ("best_epoch", int, "the epoch selected by the greedy policy's validation reward at the run's gamma (0-based)"),
        ("selected_stage", str, "the stage of the selected epoch: curriculum or finetune"),
        ("val_reward", float, "the greedy policy's mean validation reward at the chosen epoch (at the run's gamma)"),
        ("val_acc", float, "validation accuracy of the dynamic network at the chosen epoch, 0..1"),
        ("val_blocks_used", float, "droppable blocks executed per validation image at the chosen epoch, mean"),
        ("history", str, "every epoch's stage, blocks decided, validation reward (run's gamma), accuracy, blocks used "
                         "(JSON list)"),
        ("policy_widths", str, "the policy network's stage widths"),
        ("policy_input_size", int, "the resolution the image is pooled to before the policy sees it, px"),
        ("flops_droppable", int, "FLOPs that skipping every droppable block saves (their shortcuts' cost taken off)"),
        ("break_even", float, "flops_policy / flops_droppable: the share the policy must skip to pay for itself"),
        ("flops_policy_blockdrop", int, "the policy's FLOPs for one image by BlockDrop's rule (2 x MACs, conv+linear)"),
        ("flops_droppable_blockdrop", int, "flops_droppable by BlockDrop's rule"),
        ("break_even_blockdrop", float, "break_even by BlockDrop's rule"),
        ("accuracy_warning", str, "non-empty when the selected policy loses more than the margin of test accuracy"),
        ("blocks_droppable", int, "K: the blocks that can be skipped"),
        ("droppable", str, "which blocks those are (stage.index;...)"),
        ("test_acc", float, "test accuracy with the greedy policy, blocks skipped, 0..1"),
        ("test_acc_static", float, "test accuracy of the trained cell before BlockDrop (every block on, static), 0..1"),
        ("blocks_used_mean", float, "droppable blocks executed per test image, mean"),
        ("blocks_used_std", float, "droppable blocks executed per test image, standard deviation"),
        ("flops_per_image_mean", float, "FLOPs per test image of the dynamic network, mean (profile's counter)"),
        ("flops_per_image_std", float, "FLOPs per test image, standard deviation"),
        ("flops_per_image_with_policy_mean", float, "as flops_per_image_mean, the policy network's own cost added"),
        ("flops_policy", int, "FLOPs of the policy network for one image"),
        ("flops_static", int, "FLOPs of the static network for one image"),
        ("flops_blockdrop_per_image_with_policy_mean", float, "FLOPs per test image, the policy included, by "
                                                              "BlockDrop's rule (2 x MACs of conv and linear layers)"),
        ("flops_blockdrop_per_image_with_policy_std", float, "its standard deviation"),
        ("flops_blockdrop_static", int, "FLOPs of the static network for one image by BlockDrop's rule"),
        ("distinct_policies", int, "distinct keep/drop decision vectors over the test set"),
        ("drop_rates", str, "how often each droppable block is skipped: stage.index:rate;..."),
        ("latency_ms", float, "median latency per image, batch 1, blocks really skipped, policy included, ms"),
        ("latency_static_ms", float, "median latency per image of the static network, same device, ms"),
        ("latency_images", int, "test images timed"),
        ("latency_device", str, "cpu or cuda"),
    ]),
]
SCHEMA: dict[str, Column] = {column.name: column for column in SCHEMA_COLUMNS}
SECTIONS = ("scaffold", "profile", "benchmark", "train", "dynamic")


def flatten(record: dict, prefix: str = "") -> dict[str, Any]:
    row: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            row.update(flatten(value, name + "."))
        else:
            row[name] = value
    return row


def unflatten(row: dict[str, Any]) -> dict:
    record: dict = {}
    for name, value in row.items():
        *parents, leaf = name.split(".")
        node = record
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return record


def validate(record: dict) -> dict[str, Any]:
    """Check a record against SCHEMA; return it flattened. Raises BlockzooError listing every problem."""
    row = flatten(record)
    problems = [f"unknown column '{name}'" for name in row if name not in SCHEMA]
    problems += [f"missing required column '{c.name}'" for c in SCHEMA_COLUMNS
                 if c.required and row.get(c.name) is None]
    for name, value in row.items():
        column = SCHEMA.get(name)
        if column is None or value is None:
            continue
        if not _has_type(value, column.type):
            problems.append(f"column '{name}' must be {column.type.__name__}, got {type(value).__name__} {value!r}")
    if problems:
        raise BlockzooError("invalid results record: " + "; ".join(problems) + " (see blockzoo/results.py SCHEMA)")
    return row


def _has_type(value: Any, typ: type) -> bool:
    if typ is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if typ is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, typ)


def write_record(path: str | Path, record: dict) -> None:
    """Validate, then write one cell's record as JSON, atomically."""
    validate(record)
    atomic.write_json(path, _json_safe(record))


def read_record(path: str | Path) -> dict:
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise BlockzooError(f"results record {path} does not exist; run the stage that writes it first") from None
    except json.JSONDecodeError as exc:
        raise BlockzooError(f"results record {path} is not valid JSON ({exc.msg} at line {exc.lineno}); "
                            "delete it and re-run its stage") from None
    validate(record)
    return record


def merge_records(records: Iterable[dict]) -> list[dict]:
    """Join per-stage records into one record per (cell, position, seed).

    Profile and benchmark records carry no seed: they are copied into every seed's row of the same
    cell and position (a cell with no training record keeps a seedless row).
    """
    shared: dict[tuple[str, str], dict] = {}
    by_seed: dict[tuple[str, str, int], dict] = {}
    for record in records:
        key = (record["cell"], record.get("position") or "")
        if record.get("seed") is None:
            _deep_update(shared.setdefault(key, {}), record)
        else:
            _deep_update(by_seed.setdefault((*key, record["seed"]), {}), record)
    merged = []
    for key in sorted(set(shared) | {k[:2] for k in by_seed}):
        seeds = sorted(s for (b, p, s) in by_seed if (b, p) == key)
        if not seeds:
            merged.append(shared[key])
        for seed in seeds:
            row: dict = {}
            _deep_update(row, shared.get(key, {}))
            _deep_update(row, by_seed[(*key, seed)])
            merged.append(row)
    for record in merged:
        validate(record)
    return merged


def at_position(record: dict, position: str) -> dict:
    """A record of the baseline network (no position: the same network at every position) as the record of
    the baseline block at `position`: its `*_active*` profile columns are those of that stage."""
    copied = json.loads(json.dumps(record))
    copied["position"] = position
    if "profile" in copied:
        copied["profile"] = with_active_stage(copied["profile"], position)
    return copied


def with_active_stage(profile: dict, position: str | None) -> dict:
    """The profile section with its `*_active*` columns: those of the stage under test (none without one)."""
    if position is None:
        return profile
    return {**profile, **{f"{kind}_active{form}": profile[f"{kind}_{position}{form}"]
                          for kind in ("params", "flops") for form in ("", "_deploy")}}


def _deep_update(target: dict, source: dict) -> None:
    for key, value in source.items():
        if isinstance(value, dict):
            _deep_update(target.setdefault(key, {}), value)
        else:
            target[key] = value


def results_csv(records: Iterable[dict]) -> str:
    """Records as the text of results.csv: columns in SCHEMA order, empty cells for missing values."""
    rows = [validate(record) for record in records]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[c.name for c in SCHEMA_COLUMNS], lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({name: _csv_value(value) for name, value in row.items()})
    return buffer.getvalue()


def write_results_csv(path: str | Path, records: Iterable[dict]) -> str:
    """Write records as results.csv, atomically; return its text."""
    text = results_csv(records)
    atomic.write_text(path, text)
    return text


def read_results(path: str | Path):
    """Read results.csv into a pandas DataFrame with the schema's types; validates the header."""
    path = Path(path)
    if not path.is_file():
        raise BlockzooError(f"results file {path} does not exist; run `dvc repro` (or the aggregate stage) first")
    return parse_results(path.read_bytes().decode("utf-8", errors="replace"), str(path))


def parse_results(text: str, where: str = "results"):
    """The text of a results.csv as a pandas DataFrame with the schema's types."""
    import pandas as pd

    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise BlockzooError(f"{where} is not a readable CSV ({' '.join(str(exc).split())}); "
                            "give a results.csv written by the aggregate stage") from None
    unknown = [name for name in frame.columns if name not in SCHEMA]
    if unknown or "block" not in frame.columns or "position" not in frame.columns:
        raise BlockzooError(f"{where} is not a blockzoo results file (unknown columns: "
                            f"{', '.join(unknown[:5]) or 'none'}; needs block and position); "
                            "give a results.csv written by the aggregate stage")
    for name in frame.columns:
        frame[name] = _typed_series(frame[name], SCHEMA[name].type, where, name)
    return frame


def _typed_series(series, typ: type, where: str, name: str):
    import pandas as pd

    empty = series == ""
    try:
        if typ is str:
            return series.where(~empty, None)
        if typ is bool:
            return series.map({"True": True, "False": False, "": None}).astype("boolean")
        if typ is int:
            return pd.to_numeric(series.where(~empty, None), errors="raise").astype("Int64")
        return series.map(lambda text: float(text) if text else math.nan).astype("float64")
    except (ValueError, TypeError, KeyError):
        raise BlockzooError(f"{where}: column '{name}' holds values that are not {typ.__name__}; "
                            "re-create the file with the aggregate stage") from None


def query(frame, **equals):
    """Rows whose columns equal the given values, e.g. query(df, block="RepMixer", position="mid")."""
    mask = None
    for name, value in equals.items():
        if name not in frame.columns:
            raise BlockzooError(f"no column '{name}' in the results; columns are listed in blockzoo/results.py SCHEMA")
        condition = frame[name] == value
        mask = condition if mask is None else mask & condition
    return frame if mask is None else frame[mask]


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return value


def _json_safe(record: dict) -> dict:
    """JSON has no NaN: non-finite floats (a diverged loss) are written as null."""
    return {
        key: _json_safe(value) if isinstance(value, dict)
        else (None if isinstance(value, float) and not math.isfinite(value) else value)
        for key, value in record.items()
    }
