"""params.yaml as a whole: its top-level settings (what the pipeline measures), each default written once here
beside blockzoo.settings' sections, and every key and value of a run checked, with one line naming the first bad
one (the cells stage runs this before any cell, and scripts/compose_params.py before it writes params.yaml).
conf/config.yaml is generated from PipelineSettings (scripts/write_conf.py): its fields in their order, a
section's fields where the field names a section, comments as in blockzoo.settings. No torch: only
PipelineSettings.check_with_the_library imports the block registry, when it runs.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from blockzoo.checks import Settings, check_known_keys, closest_hint
from blockzoo.data.catalogue import check_source, check_val_size
from blockzoo.errors import BlockzooError
from blockzoo.macro.space import macro_cells
from blockzoo.names import (
    ALL_BLOCKS,
    BASELINE_BLOCK,
    BUILTIN_BLOCKS,
    POSITIONS,
    block_spec,
    check_measures_something,
    pipeline_cells,
    split_block_spec,
)
from blockzoo.settings import (
    BenchmarkSettings,
    DataSettings,
    DynamicSettings,
    MacroSettings,
    ProfileSettings,
    ScaffoldSpec,
    TrainSettings,
    cpu_dtype_problem,
    train_settings,
)


@dataclass(frozen=True)
class BlockSettings(Settings):
    """Per-block settings (params.yaml `block_settings.<block>`)."""

    SECTION = "block_settings.<block>"

    variant: str | None = None  # one of the block's named variants (its cells are then distinct cells)
    train: dict | None = None  # training settings for this block's cells only (keys of `train`)


def section(cls: type[Settings]):
    """A field holding a section of params.yaml (validated by `cls`; conf/config.yaml lists `cls`'s fields)."""
    return field(default=None, metadata={"section": cls})


def computed(resolver: str, source: str, empty=()):
    """A field conf/config.yaml computes with a resolver of conf/hydra_plugins/ (never set by hand)."""
    return field(default=empty, metadata={"resolver": resolver, "from": source})


@dataclass(frozen=True)
class PipelineSettings(Settings):
    """The whole of params.yaml, validated: one line naming the first bad key or value."""

    SECTION = ""

    # The blocks benchmarked. Adding your block: register it in a module under user_blocks/ and add its
    # name to zoo (conf/setting/default.yaml holds this project's own choices; docs/settings.md).
    zoo: tuple[str, ...] = ("ResNetBasicBlock", "ResNetBottleneck", "InvertedResidual", "UniversalInvertedBottleneck",
                            "EdgeResidual", "MBConvLNBlock", "MobileOneBlock", "ReparamLargeKernelConv", "RepMixer",
                            "GhostBottleneckV3", "DYMicroBlock")
    # Which blocks this run measures: all (the zoo), or one block name, measured beside the baseline
    # (ResNetBasicBlock): `dvc exp run -S block=GhostBottleneckV3`.
    block: str = ALL_BLOCKS
    positions: tuple[str, ...] = POSITIONS  # the stages a block is placed at
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)  # one training run per seed and cell
    # Per-block settings, by block name:
    #   variant: one of the block's named variants (docs/blocks.md); its cells are distinct cells.
    #            uniform   (InvertedResidual, UniversalInvertedBottleneck, EdgeResidual, GhostBottleneckV3):
    #                      the mid stage's configuration at every position, no position confound
    #            identity  (ResNetBasicBlock, ResNetBottleneck): identity shortcut where the shapes match
    #   train:   training settings (keys of `train` below) for this block's cells only, e.g. {lr: 0.05}
    block_settings: dict | None = field(default_factory=dict)
    macro: dict | None = section(MacroSettings)
    dynamic: dict | None = section(DynamicSettings)
    # The networks measured, each distinct network once (the baseline network, the same at every
    # position, once): computed from zoo, block, positions and block_settings, and the macro
    # architectures that are not among them. Do not set.
    cells: tuple[str, ...] = computed("${blockzoo_cells:${zoo},${block},${positions},${block_settings}}",
                                      "zoo, block, positions and block_settings")
    macro_cells: tuple[str, ...] = computed("${blockzoo_macro_cells:${zoo},${macro},${cells}}", "macro and the cells")
    # The digest of conf/ this file was composed from: a stage stops when conf/ changed since.
    conf_digest: str = computed("${blockzoo_conf_digest:}", "the files under conf/", empty="")
    scaffold: dict | None = section(ScaffoldSpec)
    data: dict | None = section(DataSettings)
    train: dict | None = section(TrainSettings)
    profile: dict | None = section(ProfileSettings)
    benchmark: dict | None = section(BenchmarkSettings)
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
        check_source(data.dataset, **data.fetch_options())  # what the download stage would reject, before DVC runs
        if data.md5 is None and data.info.train_images:  # the official data: its size is known before the download
            try:
                check_val_size(data.dataset, data.val_size, data.info.train_images)
            except BlockzooError as exc:
                raise BlockzooError(f"data.val_size: {exc}") from None
        root = Path(data.root)
        if not data.root or root.is_absolute() or ".." in root.parts:  # dvc.yaml: the output ${data.root}/<dataset>
            raise BlockzooError(f"data.root must be a folder inside this repository (a relative path, e.g. data), "
                                f"got {data.root!r}")
        ScaffoldSpec.for_dataset(self.scaffold, data.info)
        ProfileSettings.from_dict(self.profile)
        benchmark = BenchmarkSettings.from_dict(self.benchmark)
        if benchmark.device == "cpu" and cpu_dtype_problem(benchmark.dtype):  # auto and cuda: known on the machine
            raise BlockzooError(f"benchmark.dtype {benchmark.dtype} with benchmark.device cpu: "
                                f"{cpu_dtype_problem(benchmark.dtype)}")
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

    def needs_the_registry(self) -> bool:
        """True when a block the run names is not a built-in one, or has a variant: only the block registry
        (torch) can check those (check_with_the_library)."""
        names = [*self.zoo, *([self.block] if self.block != ALL_BLOCKS else [])]
        return any(name not in BUILTIN_BLOCKS or self.block_settings_of(name).variant for name in names)

    def check_with_the_library(self) -> None:
        """The check that imports the block registry (torch; the cells stage runs it, and compose_params where
        needs_the_registry, after importing the modules of the user's blocks): every block the run names is
        registered, with the variant block_settings gives it."""
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


_SECTIONS = {f.name: f.metadata["section"] for f in dataclasses.fields(PipelineSettings) if "section" in f.metadata}
