"""params.yaml as a whole: every key and value of a pipeline run checked, with one line naming the first bad
one (the cells stage runs this before any cell, and scripts/compose_params.py before it writes params.yaml).
No torch at import: the check of the dataset's source (blockzoo.data.fetch.check_source) and
PipelineSettings.check_with_the_library import what they need when they run.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blockzoo.checks import Settings, check_known_keys, closest_hint
from blockzoo.data.catalogue import DataSettings
from blockzoo.errors import BlockzooError
from blockzoo.macro.space import macro_cells
from blockzoo.names import (
    ALL_BLOCKS,
    BASELINE_BLOCK,
    POSITIONS,
    block_spec,
    check_measures_something,
    pipeline_cells,
    split_block_spec,
)
from blockzoo.settings import (
    BenchmarkSettings,
    DynamicSettings,
    MacroSettings,
    ProfileSettings,
    ScaffoldSpec,
    TrainSettings,
    train_settings,
)


@dataclass(frozen=True)
class BlockSettings(Settings):
    """Per-block settings (params.yaml `block_settings.<block>`)."""

    SECTION = "block_settings.<block>"

    variant: str | None = None  # one of the block's named variants (its cells are then distinct cells)
    train: dict | None = None  # training settings for this block's cells only (keys of `train`)


@dataclass(frozen=True)
class PipelineSettings(Settings):
    """The whole of params.yaml, validated: one line naming the first bad key or value."""

    SECTION = ""

    zoo: tuple[str, ...] = ()
    block: str = ALL_BLOCKS
    positions: tuple[str, ...] = POSITIONS
    seeds: tuple[int, ...] = ()
    cells: tuple[str, ...] = ()
    macro_cells: tuple[str, ...] = ()
    conf_digest: str = ""
    block_settings: dict | None = None
    macro: dict | None = None
    dynamic: dict | None = None
    scaffold: dict | None = None
    data: dict | None = None
    train: dict | None = None
    profile: dict | None = None
    benchmark: dict | None = None
    cluster: dict | None = None  # the cluster runner's section: the runner checks it (the cells stage runs its check)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> "PipelineSettings":
        for key in params:
            if key not in cls.keys():  # a section's key written at the top level: name the section
                nested = [f"{name}.{key}" for name, section in _SECTIONS.items() if key in section.keys()]
                if nested:
                    raise BlockzooError(f"unknown setting '{key}'; did you mean '{nested[0]}'?")
        settings = cls.from_dict(params)
        settings.validate_sections()
        return settings

    def validate_sections(self) -> None:
        for key, names in (("zoo", self.zoo), ("block", [self.block] if self.block != ALL_BLOCKS else [])):
            for name in names:
                try:
                    split_block_spec(name)
                except ValueError as exc:
                    raise BlockzooError(f"{key}: {exc}") from None
        for position in self.positions:
            if position not in POSITIONS:
                raise BlockzooError(f"positions: unknown position '{position}'; use some of {', '.join(POSITIONS)}")
        if not all(isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0 for seed in self.seeds):
            raise BlockzooError(f"seeds must be a list of integers >= 0, got {list(self.seeds)}")
        if self.block == ALL_BLOCKS and not self.zoo:
            raise BlockzooError("zoo is empty, so this run would measure the baseline network alone; list blocks in "
                                "zoo, or name one with block=NAME")
        if not self.seeds:
            raise BlockzooError("seeds is empty, so no cell would be trained; list at least one seed, e.g. seeds=[0]")
        for key, values in (("zoo", self.zoo), ("positions", self.positions), ("seeds", self.seeds)):
            _listed_once(key, values)
        data = DataSettings.from_dict(self.data)
        from blockzoo.data.fetch import check_source  # what the download stage would reject, before DVC runs it

        check_source(data.dataset, **data.fetch_options())
        root = Path(data.root)
        if not data.root or root.is_absolute() or ".." in root.parts:  # dvc.yaml: the output ${data.root}/<dataset>
            raise BlockzooError(f"data.root must be a folder inside this repository (a relative path, e.g. data), "
                                f"got {data.root!r}")
        ScaffoldSpec.for_dataset(self.scaffold, data.info)
        ProfileSettings.from_dict(self.profile)
        BenchmarkSettings.from_dict(self.benchmark)
        self.train_settings(None)
        run_blocks = [BASELINE_BLOCK, *self.zoo, *([self.block] if self.block != ALL_BLOCKS else [])]
        for name, _values in (self.block_settings or {}).items():
            if name not in run_blocks:  # its settings would be dropped without a word
                raise BlockzooError(f"block_settings names '{name}', which is not a block of this run (zoo, block); "
                                    f"{closest_hint(str(name), set(run_blocks), 'block_settings.')}")
            self.block_settings_of(name)
            self.train_settings(name)
        dynamic = DynamicSettings.from_dict(self.dynamic)
        if dynamic.cells:
            for key in ("cells", "seeds", "gammas"):
                if not getattr(dynamic, key):
                    raise BlockzooError(f"dynamic.{key} is empty, so dynamic.cells would not be run; list at least "
                                        f"one, or set dynamic.cells: []")
                _listed_once(f"dynamic.{key}", getattr(dynamic, key))
        for name in dynamic.cells:
            if name not in self.cells and not (name in self.macro_cells and not str(name).startswith("blox-")):
                raise BlockzooError(f"dynamic.cells names '{name}', which is not a block cell or a zoo network of "
                                    f"this run ({', '.join([*self.cells, *self.macro_cells])}); name a trained cell")
        for seed in dynamic.seeds if dynamic.cells else ():
            if seed not in self.seeds:
                raise BlockzooError(f"dynamic.seeds names seed {seed!r}, which seeds does not train (seeds: "
                                    f"{list(self.seeds)}); name a seed of seeds")
        if not all(isinstance(g, (int, float)) and not isinstance(g, bool) and g >= 0 for g in dynamic.gammas):
            raise BlockzooError(f"dynamic.gammas must be numbers >= 0, got {dynamic.gammas}")
        macro = MacroSettings.from_dict(self.macro)
        _listed_once("macro.archs", [str(arch) for arch in macro.archs])
        train_settings(self.train, macro.train, None, where="macro.train.")
        expected = pipeline_cells(self.zoo, self.block, self.positions, self.block_settings)
        try:
            run_macro_cells = macro_cells(macro.to_dict(), self.zoo, expected)
        except BlockzooError as exc:
            raise BlockzooError(f"macro: {exc}") from None
        check_measures_something(expected, self.positions, run_macro_cells)
        if list(self.cells) != expected or list(self.macro_cells) != run_macro_cells:
            raise BlockzooError("params.yaml's cells do not follow from its zoo, block, positions, block_settings and "
                                "macro: params.yaml is generated from conf/; edit conf/ and run `dvc exp run` "
                                "(or `make params`)")

    def check_with_the_library(self) -> None:
        """The checks that import the library's torch modules (the cells stage and compose_params run them, after
        importing the modules of the user's blocks): every block the run names is registered, with the variant
        block_settings gives it; the validation hold-out fits the official training set; the benchmark's dtype runs on
        its device, where that is known before the run (cpu; auto and cuda are resolved on the machine that times
        the cell)."""
        from blockzoo.blocks.registry import get_block

        for key, names in (("zoo", self.zoo), ("block", [self.block] if self.block != ALL_BLOCKS else [])):
            for name in names:
                variant = self.block_settings_of(name).variant
                try:
                    get_block(block_spec(name, None))
                    get_block(block_spec(name, variant))
                except BlockzooError as exc:
                    where = f"block_settings.{name}.variant" if variant and "variant" in str(exc) else key
                    raise BlockzooError(f"{where}: {exc}") from None
        data = DataSettings.from_dict(self.data)
        if data.md5 is None and data.info.train_images:  # the official data: its size is known before the download
            from blockzoo.data.splits import check_val_size

            try:
                check_val_size(data.dataset, data.val_size, data.info.train_images)
            except BlockzooError as exc:
                raise BlockzooError(f"data.val_size: {exc}") from None
        benchmark = BenchmarkSettings.from_dict(self.benchmark)
        if benchmark.device == "cpu":
            import torch

            from blockzoo.benchmark.latency import check_dtype

            try:
                check_dtype(benchmark.dtype, torch.device("cpu"))
            except BlockzooError as exc:
                raise BlockzooError(f"benchmark.dtype {benchmark.dtype} with benchmark.device cpu: {exc}") from None

    def block_settings_of(self, block: str) -> BlockSettings:
        values = (self.block_settings or {}).get(block) or {}
        if not isinstance(values, Mapping):
            raise BlockzooError(f"block_settings.{block} must be a mapping (variant, train), got {values!r}")
        check_known_keys(values, BlockSettings.keys(), f"block_settings.{block}.")
        return BlockSettings(**values)

    def train_settings(self, block: str | None) -> TrainSettings:
        """`train`, with the block's own `block_settings.<block>.train` on top."""
        overrides = (self.block_settings_of(block).train or {}) if block else {}
        return train_settings(self.train, overrides, block)


def _listed_once(key: str, values) -> None:
    seen = set()
    for value in values:
        if value in seen:
            raise BlockzooError(f"{key} lists {value!r} twice; list each once")
        seen.add(value)


_SECTIONS = {"train": TrainSettings, "data": DataSettings, "scaffold": ScaffoldSpec, "profile": ProfileSettings,
             "benchmark": BenchmarkSettings, "macro": MacroSettings, "dynamic": DynamicSettings}
