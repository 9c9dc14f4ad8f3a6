"""The macro results as a dataset, for both spaces, in blockzoo's terms; plus budgets, Pareto fronts,
versioned export/import and the import of BLOX's own release (from_blox: its .blox, .pickle or .csv files).

    ds = MacroDataset.from_folder("metrics", curves="plots/curves")   # what the pipeline measured
    ds.test_acc([[[0],[1,1,1,1]], [[1],[1,1,0,0]], [[0],[0,1,1,0]]])  # any isomorphic vector finds it
    ds.val_acc("InvertedResidual,RepMixer,ResNetBottleneck", epoch=3)
    ds.filter(max_params=3e6).pareto("flops")

Every block cell of the pipeline is a point of the zoo space (InvertedResidual-early is the network
InvertedResidual, ResNetBasicBlock, ResNetBasicBlock), so its results are found here without retraining.
Values are means over the seeds there are, accuracy 0..1, `epoch` 0-based; full_info() gives their standard
deviations too. BLOX's own API and its semantics (percent, one seed, None when missing): blockzoo.macro.blox_api.
"""
from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from blockzoo import atomic, results
from blockzoo.errors import BlockzooError
from blockzoo.macro import blox, blox_api, bloxhash
from blockzoo.macro.space import BloxSpace, ZooSpace, network_name
from blockzoo.names import BASELINE_BLOCK, POSITIONS, is_macro_cell, parse_cell, split_block_spec
from blockzoo.report.curves import read_run_curves
from blockzoo.report.summary import pareto_front

FORMAT = "blockzoo-macro-dataset"
VERSION = 1
# one row per (architecture, seed)
COLUMNS = {
    "id": "the architecture's stable id: blox-II-JJ-KK, a block cell's name, or A+B+C",
    "space": "blox or zoo",
    "arch": "the canonical arch vector, JSON (BLOX: nested; zoo: the block spec per stage)",
    "seed": "training seed (empty when not trained)",
    "params": "parameters, train form",
    "flops": "FLOPs for one image, train form (1 multiply-add or 1 elementwise op = 1)",
    "flops_fvcore": "fvcore's count of the same (multiply-adds of convolutions, matrix products, norms, pooling)",
    "latency_ms": "deploy form, batch 1, median latency, ms",
    "latency_batch_ms": "deploy form, the benchmark's large batch, median latency, ms",
    "latency_device": "where the latency was measured",
    "test_acc": "test accuracy of the best validation epoch, 0..1",
    "val_acc": "best validation accuracy, 0..1",
    "val_curve": "validation accuracy per epoch, JSON list",
    "train_time_s": "training wall time, seconds",
    "epochs": "epochs trained",
    "dataset": "the dataset trained on",
    "recipe": "the training recipe",
}
METRICS = ("params", "flops", "flops_fvcore", "latency_ms", "latency_batch_ms", "test_acc", "val_acc", "train_time_s")
COSTS = {"params": "params", "flops": "flops", "latency": "latency_ms"}


class MacroDataset:
    def __init__(self, frame: pd.DataFrame, zoo: Sequence[str] = ()):
        missing = [c for c in ("id", "space", "arch") if c not in frame.columns]
        if missing:
            raise BlockzooError(f"a macro dataset needs the columns {', '.join(missing)}")
        self.frame = frame.reindex(columns=list(COLUMNS)).reset_index(drop=True)
        self.zoo = ZooSpace(zoo)

    # --- building -------------------------------------------------------------------------------

    @classmethod
    def from_records(cls, records: Sequence[dict], curves: dict[tuple[str, int], list[float]] | None = None,
                     zoo: Sequence[str] = ()) -> "MacroDataset":
        """From results records (profile, benchmark and train records of any cells, one or many per cell)."""
        rows = []
        for record in results.merge_records(records):
            space, arch = _space_and_arch(record)
            if space is None:
                continue
            profile, bench, train = (record.get(s) or {} for s in ("profile", "benchmark", "train"))
            env = bench.get("env") or {}
            seed = record.get("seed")
            rows.append({
                "id": record["cell"], "space": space, "arch": arch, "seed": seed,
                "params": profile.get("params_total"), "flops": profile.get("flops_total"),
                "flops_fvcore": profile.get("flops_total_fvcore"), "latency_ms": bench.get("latency_b1_ms"),
                "latency_batch_ms": bench.get("latency_ms"),
                "latency_device": env.get("gpu_model") or env.get("cpu_model"),
                "test_acc": train.get("test_acc"), "val_acc": train.get("val_acc"),
                "val_curve": json.dumps((curves or {}).get((record["cell"], seed))) if seed is not None else None,
                "train_time_s": train.get("wall_time_s"), "epochs": train.get("epochs_run"),
                "dataset": train.get("dataset"), "recipe": train.get("recipe"),
            })
        return cls(pd.DataFrame(rows, columns=list(COLUMNS)), zoo)

    @classmethod
    def from_folder(cls, metrics: str | Path, curves: str | Path | None = None,
                    zoo: Sequence[str] = ()) -> "MacroDataset":
        """From the pipeline's per-cell records (metrics/profile, metrics/benchmark, metrics/train) and, when
        given, its per-epoch curves (plots/curves/<cell>-s<seed>/)."""
        metrics = Path(metrics)
        if not metrics.is_dir():
            raise BlockzooError(f"{metrics} is not a folder of results; give the pipeline's metrics/ folder")
        if any(metrics.glob("blox-base-*")) or any(metrics.glob("blox-info.*")):
            raise BlockzooError(f"{metrics} is a BLOX release, not blockzoo's results; read it with "
                                "MacroDataset.from_blox() (or blockzoo.macro.blox_api.from_folder)")
        records = [results.read_record(path) for section in ("profile", "benchmark", "train")
                   for path in sorted((metrics / section).glob("*.json"))]
        run_curves = {}
        if curves is not None:
            for record in records:
                if record.get("seed") is not None:
                    folder = Path(curves) / f"{record['cell']}-s{record['seed']}"
                    run_curves[(record["cell"], record["seed"])] = read_run_curves(folder).get("val_acc")
        return cls.from_records(records, run_curves, zoo)

    @classmethod
    def load(cls, path: str | Path, zoo: Sequence[str] = ()) -> "MacroDataset":
        """A dataset saved by save(): Parquet or CSV, its format and version checked."""
        path = Path(path)
        if not path.is_file():
            raise BlockzooError(f"{path} does not exist; save a dataset with MacroDataset.save() first")
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(path)
            meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
            _check_version(meta.get("format"), meta.get("version"), path)
            frame = table.to_pandas()
        else:
            text = path.read_text()
            header, _, body = text.partition("\n")
            fields = dict(part.split("=", 1) for part in header.lstrip("# ").split() if "=" in part)
            _check_version(fields.get("format"), fields.get("version"), path)
            frame = pd.read_csv(io.StringIO(body), keep_default_na=True)
        return cls(frame, zoo)

    @classmethod
    def from_blox(cls, folder: str | Path, extended: bool = False, include_static_info: bool | None = None,
                  include_env_info: bool = False, preferred_ext=None, seeds=None) -> "MacroDataset":
        """BLOX's release (github.com/SamsungLabs/blox): the folder of its blox-info, blox-base-<seed> (and, when
        asked for, blox-ext-<seed>, blox-env-<seed>) files in any of its formats (.blox, .pickle, .csv; the first
        of preferred_ext the folder has, as BLOX's from_folder), joined by model hash. One row per network and
        seed, in blockzoo's terms: accuracy 0..1 (BLOX: percent), flops = BLOX's ptflops MACs, latency_ms = the
        first device of blox-bench-<device> files. Without blox-info (include_static_info None: when present) the
        architectures are found from their hashes. The extended and environment files, when asked for, are read
        and checked; blockzoo's columns hold what base, info and bench give. For BLOX's own API (every column),
        use blockzoo.macro.blox_api."""
        if include_static_info is None:
            formats = (".blox", ".pickle", ".csv")
            include_static_info = any(p.suffix in formats for p in Path(folder).glob("blox-info.*"))
        view = blox_api.from_folder(folder, extended=extended, seeds=seeds, include_static_info=include_static_info,
                                    include_env_info=include_env_info, preferred_ext=preferred_ext,
                                    validate_data=False)  # seeds may hold other networks here
        return cls.from_blox_view(view)

    @classmethod
    def from_blox_view(cls, view) -> "MacroDataset":
        """From a blox_api.Dataset (see from_blox)."""
        ids_of = _blox_ids_by_hash(view)
        frames = []
        for seed, table in zip(view.seeds, view.dbs, strict=True):
            ids = [ids_of.get(h) for h in table.hashes]
            if None in ids:
                missing = table.hashes[ids.index(None)]
                raise BlockzooError(f"model hash {missing} of BLOX's files is no architecture of the BLOX space; the "
                                    "files are not BLOX's or are corrupt")
            curves = np.asarray(table.data["val_top1"], dtype=float) / 100
            frame = pd.DataFrame({"id": ids, "space": "blox", "seed": seed,
                                  "test_acc": np.asarray(table.data["test_top1"], dtype=float) / 100,
                                  "val_acc": curves.max(axis=1), "val_curve": [json.dumps(c) for c in curves.tolist()],
                                  "train_time_s": np.asarray(table.data["train_time_s"], dtype=float),
                                  "epochs": curves.shape[1], "dataset": view.dataset, "recipe": "blox (BLOX release)"})
            frame["arch"] = [json.dumps(blox.nested(blox.from_id(i))) for i in ids]
            if view.static_info is not None:
                static = view.static_info.dbs[0]
                order = [static.index.get(h, -1) for h in table.hashes]
                for column in ("params", "flops"):
                    values = np.asarray(static.data[column], dtype=float)
                    frame[column] = [values[i] if i >= 0 else np.nan for i in order]
            if view.bench_info is not None:
                bench = view.bench_info.dbs[0]
                frame["latency_ms"] = [bench.value("latency", bench.index[h]) if h in bench.index else None
                                       for h in table.hashes]
                frame["latency_device"] = view.bench_info.devices[0]
            frames.append(frame)
        return cls(pd.concat(frames, ignore_index=True))

    @classmethod
    def from_blox_csv(cls, path: str | Path) -> "MacroDataset":
        """BLOX's release read from its .csv files only: `path` is the folder, or one of its files."""
        path = Path(path)
        return cls.from_blox(path if path.is_dir() else path.parent, preferred_ext=[".csv"])

    def save(self, path: str | Path) -> Path:
        """Write the dataset as Parquet (.parquet) or CSV (otherwise), with its format and version, atomically."""
        path = Path(path)
        if path.suffix == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(self.frame, preserve_index=False)
            table = table.replace_schema_metadata({**(table.schema.metadata or {}), b"format": FORMAT.encode(),
                                                   b"version": str(VERSION).encode()})
            with atomic.atomic_path(path) as tmp:
                pq.write_table(table, tmp)
        else:
            header = f"# format={FORMAT} version={VERSION}\n"
            atomic.write_text(path, header + self.frame.to_csv(index=False, lineterminator="\n"))
        return path

    # --- queries (BLOX's shape) -----------------------------------------------------------------

    def key(self, arch) -> str:
        """The id of `arch`: a BLOX vector or id, a zoo network (a list or "A,B,C"), or a block cell's name."""
        if isinstance(arch, str) and (arch.startswith("blox-") or arch in set(self.frame["id"])):
            return arch
        if isinstance(arch, str) and arch.lstrip().startswith("["):
            arch = json.loads(arch)
        try:
            if isinstance(arch, (list, tuple)) and arch and not all(isinstance(a, str) for a in arch):
                return BloxSpace().id(arch)
            return self.zoo.id(arch)
        except BlockzooError as exc:
            raise BlockzooError(f"{arch!r} is neither a BLOX arch vector nor a zoo network ({exc})") from None

    def __len__(self) -> int:
        return self.frame["id"].nunique()

    def __contains__(self, arch) -> bool:
        try:
            return self.key(arch) in set(self.frame["id"])
        except BlockzooError:
            return False

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(self.frame["id"]))

    def _rows(self, arch) -> pd.DataFrame:
        rows = self.frame[self.frame["id"] == self.key(arch)]
        if rows.empty:
            raise BlockzooError(f"no results for architecture {self.key(arch)} in this dataset ({len(self)} "
                                "architectures); train it first (docs/macro.md)")
        return rows

    def _mean(self, arch, column: str) -> float | None:
        values = pd.to_numeric(self._rows(arch)[column], errors="coerce").dropna()
        return float(values.mean()) if len(values) else None

    def val_acc(self, arch, epoch: int | None = None, best: bool = True) -> float | None:
        """Validation accuracy, mean over seeds: at `epoch` (0-based), else the best epoch's (best=True) or the
        last epoch's."""
        if epoch is None and best:
            return self._mean(arch, "val_acc")
        values = []
        for text in self._rows(arch)["val_curve"].dropna():
            curve = json.loads(text) if isinstance(text, str) else None
            if curve:
                index = len(curve) - 1 if epoch is None else epoch
                if index >= len(curve):
                    raise BlockzooError(f"{self.key(arch)} was trained for {len(curve)} epochs; ask for epoch "
                                        f"0 to {len(curve) - 1}")
                values.append(curve[index])
        return float(np.mean(values)) if values else None

    def test_acc(self, arch) -> float | None:
        return self._mean(arch, "test_acc")

    def train_time(self, arch) -> float | None:
        return self._mean(arch, "train_time_s")

    def params(self, arch) -> int | None:
        value = self._mean(arch, "params")
        return None if value is None else int(value)

    def flops(self, arch) -> int | None:
        value = self._mean(arch, "flops")
        return None if value is None else int(value)

    def latency(self, arch, batch: int = 1) -> float | None:
        """Median latency in ms at batch 1 (batch=1) or the benchmark's large batch (any other value)."""
        return self._mean(arch, "latency_ms" if batch == 1 else "latency_batch_ms")

    def arch_vec(self, arch):
        return json.loads(self._rows(arch)["arch"].iloc[0])

    def full_info(self, arch) -> dict:
        """Everything about one architecture: each metric's mean and standard deviation over seeds, and its runs."""
        rows = self._rows(arch)
        info = {"id": self.key(arch), "space": rows["space"].iloc[0], "arch": json.loads(rows["arch"].iloc[0]),
                "seeds": sorted(int(s) for s in rows["seed"].dropna())}
        for metric in METRICS:
            values = pd.to_numeric(rows[metric], errors="coerce").dropna()
            info[metric] = float(values.mean()) if len(values) else None
            info[f"{metric}_std"] = float(values.std(ddof=1)) if len(values) > 1 else None
        info["runs"] = rows.drop(columns=["id", "space", "arch"]).to_dict("records")
        return info

    # --- what BLOX lacks -----------------------------------------------------------------------

    def table(self) -> pd.DataFrame:
        """One row per architecture: each metric's mean over seeds, and the test accuracy's std."""
        numeric = self.frame[["id", *METRICS]].copy()
        for metric in METRICS:
            numeric[metric] = pd.to_numeric(numeric[metric], errors="coerce")
        grouped = numeric.groupby("id", sort=False)
        table = grouped.mean()
        table["test_acc_std"] = grouped["test_acc"].std(ddof=1)
        table["seeds"] = grouped["test_acc"].count()
        first = self.frame.drop_duplicates("id").set_index("id")[["space", "arch"]]
        return first.join(table).reset_index()

    def leaderboard(self) -> dict:
        """The dataset as a metrics file (`dvc metrics diff` shows a moved accuracy): per architecture, best
        first, its test accuracy (mean, std over seeds) and costs; and each space's Pareto front over FLOPs."""
        table = self.table().sort_values("test_acc", ascending=False, na_position="last")
        number = lambda value: None if pd.isna(value) else float(value)  # noqa: E731
        architectures = {row.id: {"space": row.space, "test_acc": number(row.test_acc),
                                  "test_acc_std": number(row.test_acc_std), "seeds": int(row.seeds),
                                  "params": number(row.params), "flops": number(row.flops),
                                  "latency_ms": number(row.latency_ms)} for row in table.itertuples(index=False)}
        fronts = {space: self.filter(space=space).pareto("flops") for space in sorted(set(table["space"]))}
        return {"architectures": architectures, "pareto_flops": fronts}

    def filter(self, *, space: str | None = None, max_params: float | None = None, max_flops: float | None = None,
               max_latency: float | None = None) -> "MacroDataset":
        """The architectures within a budget (and of one space), as a dataset."""
        table = self.table()
        keep = pd.Series(True, index=table.index)
        if space is not None:
            keep &= table["space"] == space
        for column, limit in (("params", max_params), ("flops", max_flops), ("latency_ms", max_latency)):
            if limit is not None:
                keep &= table[column] <= limit
        ids = set(table.loc[keep, "id"])
        return MacroDataset(self.frame[self.frame["id"].isin(ids)], self.zoo.blocks)

    def pareto(self, cost: str = "flops", accuracy: str = "test_acc") -> list[str]:
        """The ids on the Pareto front of accuracy (higher) against a cost (params, flops or latency; lower),
        in order of cost."""
        if cost not in COSTS:
            raise BlockzooError(f"unknown cost '{cost}'; use one of {', '.join(COSTS)}")
        table = self.table().dropna(subset=[COSTS[cost], accuracy])
        front = pareto_front(table[[COSTS[cost], accuracy]].to_numpy(dtype=float))
        return table[front].sort_values(COSTS[cost])["id"].tolist()

    def uniform(self) -> list[str]:
        """The ids of the uniform architectures: the same block (zoo) or the same cell (BLOX) at every stage."""
        ids = []
        for row in self.table().itertuples(index=False):
            arch = json.loads(row.arch)
            if len({json.dumps(stage) for stage in arch}) == 1:
                ids.append(row.id)
        return ids


def _blox_ids_by_hash(view) -> dict[str, str]:
    """blockzoo's id of each model hash of a BLOX view: from blox-info's arch vectors, else by hashing every
    architecture of the space (about half a minute for all 91,125)."""
    if view.static_info is not None:
        static = view.static_info.dbs[0]
        return {h: blox.arch_id(static.value("arch_vec", i)) for i, h in enumerate(static.hashes)}
    return {bloxhash.model_hash(arch): blox.arch_id(arch) for arch in blox.all_archs()}


def _space_and_arch(record: dict) -> tuple[str | None, str | None]:
    """(space, canonical arch JSON) of a record; the block cells become zoo networks, variants kept."""
    if record.get("space"):
        return record["space"], record["arch"]
    if is_macro_cell(record["cell"]):
        return None, None
    block, position = parse_cell(record["cell"])
    split_block_spec(block)
    stages = [block if stage == position else BASELINE_BLOCK for stage in POSITIONS]
    assert network_name(stages) == record["cell"]
    return "zoo", json.dumps(stages)


def _check_version(form: str | None, version: str | None, path: Path) -> None:
    if form != FORMAT:
        raise BlockzooError(f"{path} is not a blockzoo macro dataset (no '{FORMAT}' header); save one with "
                            "MacroDataset.save(), or import BLOX's release with MacroDataset.from_blox()")
    if str(version) != str(VERSION):
        raise BlockzooError(f"{path} is a macro dataset of version {version}; this blockzoo reads version {VERSION}")

