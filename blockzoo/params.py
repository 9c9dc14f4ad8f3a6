"""params.yaml as a whole: every key and value of a pipeline run checked, with one line naming the first bad
one (the cells stage runs this before any cell). No torch here."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from blockzoo.checks import Settings, check_known_keys
from blockzoo.cluster.settings import ClusterSettings
from blockzoo.data.catalogue import DataSettings
from blockzoo.errors import BlockzooError
from blockzoo.macro.space import macro_cells
from blockzoo.names import ALL_BLOCKS, POSITIONS, pipeline_cells, split_block_spec
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
    cluster: dict | None = None

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
        for name in (*self.zoo, *([self.block] if self.block != ALL_BLOCKS else [])):
            try:
                split_block_spec(name)
            except ValueError as exc:
                raise BlockzooError(f"zoo / block: {exc}") from None
        for position in self.positions:
            if position not in POSITIONS:
                raise BlockzooError(f"positions: unknown position '{position}'; use some of {', '.join(POSITIONS)}")
        if not all(isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0 for seed in self.seeds):
            raise BlockzooError(f"seeds must be a list of integers >= 0, got {list(self.seeds)}")
        data = DataSettings.from_dict(self.data)
        ScaffoldSpec.for_dataset(self.scaffold, data.info)
        ProfileSettings.from_dict(self.profile)
        BenchmarkSettings.from_dict(self.benchmark)
        ClusterSettings.from_dict(self.cluster)
        self.train_settings(None)
        for name, _values in (self.block_settings or {}).items():
            self.block_settings_of(name)
            self.train_settings(name)
        dynamic = DynamicSettings.from_dict(self.dynamic)
        for name in dynamic.cells:
            if name not in self.cells and not (name in self.macro_cells and not str(name).startswith("blox-")):
                raise BlockzooError(f"dynamic.cells names '{name}', which is not a block cell or a zoo network of "
                                    f"this run ({', '.join([*self.cells, *self.macro_cells])}); name a trained cell")
        for seed in dynamic.seeds:
            if seed not in self.seeds:
                raise BlockzooError(f"dynamic.seeds names seed {seed!r}, which is not trained (seeds: "
                                    f"{list(self.seeds)})")
        if not all(isinstance(g, (int, float)) and not isinstance(g, bool) and g >= 0 for g in dynamic.gammas):
            raise BlockzooError(f"dynamic.gammas must be numbers >= 0, got {dynamic.gammas}")
        macro = MacroSettings.from_dict(self.macro)
        train_settings(self.train, macro.train, None, where="macro.train.")
        expected = pipeline_cells(self.zoo, self.block, self.positions, self.block_settings)
        if list(self.cells) != expected or list(self.macro_cells) != macro_cells(macro.to_dict(), self.zoo, expected):
            raise BlockzooError("params.yaml's cells do not follow from its zoo, block, positions, block_settings and "
                                "macro: params.yaml is generated from conf/; edit conf/ and run `dvc exp run` "
                                "(or `make params`)")

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


_SECTIONS = {"train": TrainSettings, "data": DataSettings, "scaffold": ScaffoldSpec, "profile": ProfileSettings,
             "benchmark": BenchmarkSettings, "macro": MacroSettings, "dynamic": DynamicSettings,
             "cluster": ClusterSettings}
