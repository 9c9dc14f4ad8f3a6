"""The block registry: one name -> one constructor with the uniform interface.

Every block is built as ``constructor(in_channels, out_channels, stride, position)``
and maps (N, in, H, W) -> (N, out, H/stride, W/stride).
"""
from __future__ import annotations

import difflib
import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from torch import nn

from blockzoo.errors import BlockzooError
from blockzoo.names import POSITIONS

BlockConstructor = Callable[[int, int, int, str], nn.Module]


@dataclass(frozen=True)
class BlockEntry:
    name: str
    constructor: BlockConstructor
    source: str  # module that registered it; a change to that file re-runs the block's cells
    description: str


_REGISTRY: dict[str, BlockEntry] = {}


def register_block(name: str | None = None, *, description: str = "") -> Callable[[BlockConstructor], BlockConstructor]:
    """Decorator: register a block class or factory function under `name` (default: its own name).

    >>> @register_block()
    ... def MyBlock(in_channels, out_channels, stride, position): ...
    """

    def decorator(constructor: BlockConstructor) -> BlockConstructor:
        block_name = name or constructor.__name__
        existing = _REGISTRY.get(block_name)
        if existing is not None and existing.constructor is not constructor and existing.source != constructor.__module__:
            raise BlockzooError(
                f"block name '{block_name}' is already registered by {existing.source}; choose another name for the block in {constructor.__module__}"
            )
        first_doc_line = next(iter((constructor.__doc__ or "").strip().splitlines()), "")
        _REGISTRY[block_name] = BlockEntry(
            name=block_name,
            constructor=constructor,
            source=constructor.__module__,
            description=description or first_doc_line,
        )
        return constructor

    return decorator


def check_position(position: str) -> str:
    if position not in POSITIONS:
        raise BlockzooError(f"unknown position '{position}'; use one of: {', '.join(POSITIONS)}")
    return position


def get_block(name: str) -> BlockEntry:
    _load_builtin_blocks()
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, _REGISTRY, n=3, cutoff=0.4)
        hint = f"did you mean {', '.join(close)}?" if close else f"registered blocks: {', '.join(sorted(_REGISTRY))}"
        raise BlockzooError(
            f"unknown block '{name}'; {hint} (a block of your own must be registered with @register_block in a module named in the 'block_modules' setting)"
        ) from None


def create_block(name: str, in_channels: int, out_channels: int, stride: int, position: str) -> nn.Module:
    """Build block `name` with the uniform interface."""
    check_position(position)
    return get_block(name).constructor(in_channels, out_channels, stride, position)


def list_available_blocks() -> list[str]:
    """Names of every registered block, sorted."""
    _load_builtin_blocks()
    return sorted(_REGISTRY)


def import_block_modules(modules: list[str] | tuple[str, ...] | None) -> None:
    """Import user modules that register blocks: dotted module names or paths to .py files."""
    for spec in modules or ():
        path = Path(spec)
        if spec.endswith(".py"):
            if not path.is_file():
                raise BlockzooError(f"block module file '{spec}' does not exist; give a path to a .py file or an importable module name")
            module_name = f"blockzoo_user_{path.stem}"
            if module_name in sys.modules:
                continue
            module_spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[module_name] = module
            try:
                module_spec.loader.exec_module(module)
            except BlockzooError:
                del sys.modules[module_name]
                raise
        else:
            if str(Path.cwd()) not in sys.path:
                sys.path.insert(0, str(Path.cwd()))
            try:
                importlib.import_module(spec)
            except ModuleNotFoundError as exc:
                if exc.name and spec.startswith(exc.name):
                    raise BlockzooError(f"block module '{spec}' cannot be imported; check its name, or give the path to its .py file") from None
                raise


_BUILTIN_MODULES = ("resnet", "efficientnet", "vitamin", "fastvit", "ghostnet", "micronet")
_builtins_loaded = False


def _load_builtin_blocks() -> None:
    global _builtins_loaded
    if not _builtins_loaded:
        _builtins_loaded = True
        for module in _BUILTIN_MODULES:
            importlib.import_module(f"blockzoo.blocks.{module}")
