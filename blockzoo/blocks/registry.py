"""The block registry: one name -> one constructor with the uniform interface.

Every block is built as ``constructor(in_channels, out_channels, stride, position)`` and maps
(N, in, H, W) -> (N, out, H/stride, W/stride). A block may offer named variants (documented
alternatives to its default configuration); a variant is asked for as "Name.variant" and passed to
the constructor as the keyword argument ``variant``.
"""
from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import inspect
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from blockzoo.errors import BlockzooError
from blockzoo.names import BLOCK_NAME, POSITIONS, split_block_spec

BlockConstructor = Callable[..., nn.Module]


@dataclass(frozen=True)
class BlockEntry:
    name: str
    constructor: BlockConstructor
    module: str  # the module that registered it; its source file is part of the block's fingerprint
    description: str
    variants: Mapping[str, str] = field(default_factory=dict)  # variant name -> what it changes

    @property
    def source_file(self) -> Path:
        return Path(inspect.getsourcefile(sys.modules[self.module])).resolve()


_REGISTRY: dict[str, BlockEntry] = {}
_USER_MODULES: dict[str, str] = {}  # the user's block modules imported: module name -> its file, as shown


def register_block(name: str | None = None, *, description: str = "",
                   variants: Mapping[str, str] | None = None) -> Callable[[BlockConstructor], BlockConstructor]:
    """Decorator: register a block class or factory function under `name` (default: its own name).

    >>> @register_block()
    ... def MyBlock(in_channels, out_channels, stride, position): ...

    `variants`: {variant name: one line saying what it changes}; the constructor then takes `variant=`.
    """

    if callable(name):  # @register_block without the parentheses: the function itself, named after itself
        return register_block()(name)

    def decorator(constructor: BlockConstructor) -> BlockConstructor:
        if not callable(constructor):
            raise BlockzooError(f"@register_block() decorates a class or function that builds a block, not "
                                f"{type(constructor).__name__} {constructor!r}")
        block_name = name or constructor.__name__
        if not BLOCK_NAME.fullmatch(block_name):
            raise BlockzooError(f"block name '{block_name}' in {constructor.__module__} is not valid; "
                                "use letters, digits and _ (it names files and DVC stages)")
        for variant in variants or {}:
            if not BLOCK_NAME.fullmatch(variant):
                raise BlockzooError(f"variant '{variant}' of block {block_name} is not valid; "
                                    "use letters, digits and _")
        existing = _REGISTRY.get(block_name)
        if (existing is not None and existing.constructor is not constructor
                and existing.module != constructor.__module__):
            raise BlockzooError(f"block name '{block_name}' is already registered by {existing.module}; "
                                f"choose another name for the block in {constructor.__module__}")
        first_doc_line = next(iter((constructor.__doc__ or "").strip().splitlines()), "")
        _REGISTRY[block_name] = BlockEntry(block_name, constructor, constructor.__module__,
                                           description or first_doc_line, dict(variants or {}))
        return constructor

    return decorator


def unregister_block(name: str) -> None:
    """Remove a block from the registry (for tests that register blocks of their own)."""
    _REGISTRY.pop(name, None)


def check_position(position: str) -> str:
    if position not in POSITIONS:
        raise BlockzooError(f"unknown position '{position}'; use one of: {', '.join(POSITIONS)}")
    return position


def get_block(spec: str) -> BlockEntry:
    """The registry entry of a block spec ("Name" or "Name.variant"); a one-line error for an unknown one."""
    _load_builtin_blocks()
    try:
        name, variant = split_block_spec(spec)
    except ValueError as exc:
        raise BlockzooError(str(exc)) from None
    entry = _REGISTRY.get(name)
    if entry is None:
        close = difflib.get_close_matches(name, _REGISTRY, n=3, cutoff=0.4)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise BlockzooError(f"unknown block '{name}'; {hint}registered blocks: {', '.join(sorted(_REGISTRY))} "
                            f"({_user_modules_hint()})")
    if variant is not None and variant not in entry.variants:
        offered = ", ".join(entry.variants) or "none"
        raise BlockzooError(f"block {name} has no variant '{variant}'; its variants: {offered}")
    return entry


def _user_modules_hint() -> str:
    """What the user's block modules registered: the usual cause of an unknown block of one's own."""
    empty = [shown for module, shown in _USER_MODULES.items()
             if not any(entry.module == module for entry in _REGISTRY.values())]
    if empty:
        return (f"{', '.join(empty)} registered no block: decorate each builder with @register_block() "
                "(from blockzoo import register_block)")
    return ("a block of your own must be registered with @register_block in a module under user_blocks/, "
            "or named with --block-module")


def create_block(spec: str, in_channels: int, out_channels: int, stride: int, position: str) -> nn.Module:
    """Build block `spec` ("Name" or "Name.variant") with the uniform interface."""
    check_position(position)
    entry = get_block(spec)
    _, variant = split_block_spec(spec)
    args = (in_channels, out_channels, stride, position)
    kwargs = {} if variant is None else {"variant": variant}
    call = f"{entry.name}({', '.join(map(repr, args))}{f', variant={variant!r}' if variant else ''})"
    try:
        signature = inspect.signature(entry.constructor)
    except (TypeError, ValueError):  # a builtin or C callable: no signature to check against
        signature = None
    if signature is not None:
        try:
            signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise _builder_error(entry, f"takes the wrong arguments ({exc}; its signature is {signature})") from None
    try:
        block = entry.constructor(*args, **kwargs)
    except BlockzooError:
        raise
    except Exception as exc:  # noqa: BLE001 - any block's builder: one line naming it, the call and the error
        raise _builder_error(entry, f"raised {type(exc).__name__}: {' '.join(str(exc).split())} when built as {call}",
                             raised=True) from None
    if not isinstance(block, nn.Module):
        raise _builder_error(entry, f"returned {_describe(block)} when built as {call}, not a torch.nn.Module")
    return block


def block_source(entry: BlockEntry) -> str:
    """Where a block is defined, as a user reads it: its file relative to the working folder when under it."""
    try:
        return _shown(entry.source_file)
    except (TypeError, KeyError, OSError):
        return entry.module


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _builder_error(entry: BlockEntry, problem: str, raised: bool = False) -> BlockzooError:
    variant = ", variant=..." if entry.variants else ""
    if is_builtin(entry):  # the zoo's own blocks are tested: what breaks them is the scaffold's shape
        fix = ("its widths come from the scaffold: try another base_channels (--base-channels, scaffold.base_channels)"
               if raised else "report it: the zoo's blocks are tested")
    else:
        fix = f"fix the builder; it is called as {entry.name}(in_channels, out_channels, stride, position{variant})"
    return BlockzooError(f"block {entry.name} ({block_source(entry)}) {problem}; {fix}")


def is_builtin(entry: BlockEntry) -> bool:
    return entry.module.startswith("blockzoo.blocks.")


def _describe(value: object) -> str:
    if value is None:
        return "None"
    text = " ".join(repr(value).split())
    return f"{text[:60] + '...' if len(text) > 60 else text} (of type {type(value).__name__})"


def list_available_blocks() -> list[str]:
    """Names of every registered block, sorted."""
    _load_builtin_blocks()
    return sorted(_REGISTRY)


def import_block_modules(modules) -> None:
    """Import modules that register blocks: paths to .py files, folders of them (as user_blocks/), or importable
    module names.

    A module that does not exist, or fails while it is imported, is a one-line error naming it.
    """
    for spec in modules or ():
        spec = str(spec)
        if spec.endswith(".py"):
            _import_file(Path(spec))
        elif Path(spec).is_file():
            raise BlockzooError(f"block module file {spec} is not a .py file; a block module is Python source "
                                "ending in .py (or an importable module name)")
        elif Path(spec).is_dir() and not (Path(spec) / "__init__.py").is_file():  # a folder of block modules
            files = user_block_files(spec)
            if not files:
                raise BlockzooError(f"block module folder {spec} holds no .py files; give a .py file, a folder of "
                                    "them or an importable module name")
            for path in files:
                _import_file(path)
        else:
            if str(Path.cwd()) not in sys.path:
                sys.path.insert(0, str(Path.cwd()))
            try:
                importlib.import_module(spec)
            except ModuleNotFoundError as exc:
                if exc.name and (spec == exc.name or spec.startswith(f"{exc.name}.")):  # not a module it imports
                    raise BlockzooError(f"block module '{spec}' cannot be imported; check its name, "
                                        "or give the path to its .py file") from None
                raise _import_failed(spec, exc) from None
            except BlockzooError:
                raise
            except (Exception, SystemExit) as exc:  # noqa: BLE001 - the user's module: any error is one line
                raise _import_failed(spec, exc) from None


def user_block_files(folder: str | Path) -> list[Path]:
    """The .py files of a user_blocks/ folder, in name order (none when the folder does not exist)."""
    folder = Path(folder)
    return sorted(p for p in folder.glob("*.py") if not p.name.startswith("_")) if folder.is_dir() else []


def module_name_for(path: Path) -> str:
    """The name a block file is imported under: blockzoo.blocks.* by its package, others by a name of their own
    (the same file is imported once; two files of the same name in two folders are two modules)."""
    path = path.resolve()
    if path.parent == Path(__file__).resolve().parent:
        return f"blockzoo.blocks.{path.stem}"
    return f"blockzoo_user_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"


def _import_file(path: Path) -> None:
    if not path.is_file():
        raise BlockzooError(f"block module file '{path}' does not exist; give a path to a .py file "
                            "or an importable module name")
    module_name = module_name_for(path)
    if module_name in sys.modules:
        return
    if module_name.startswith("blockzoo.blocks."):
        importlib.import_module(module_name)
        return
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    try:
        module_spec.loader.exec_module(module)
        _USER_MODULES[module_name] = _shown(path)
    except BlockzooError:
        del sys.modules[module_name]
        raise
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the user's module: any error is reported in one line
        del sys.modules[module_name]
        raise _import_failed(_shown(path), exc) from None


def _import_failed(where: str, exc: BaseException) -> BlockzooError:
    if isinstance(exc, SyntaxError):
        other = exc.filename and Path(exc.filename).name != Path(where).name  # in a module the user's one imports
        detail = f"SyntaxError: {exc.msg} (line {exc.lineno}{f' of {Path(exc.filename).name}' if other else ''})"
    else:
        frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ else []
        # the line of the user's module that failed, not the line deep inside a library it called
        names = {Path(where).name, where.rsplit('.', 1)[-1] + '.py'}
        own = [frame for frame in frames if Path(frame.filename).name in names]
        frame = (own or frames or [None])[-1]
        line = f" (line {frame.lineno} of {Path(frame.filename).name})" if frame else ""
        detail = f"{type(exc).__name__}: {exc}{line}"
    return BlockzooError(f"block module {where} failed to import: {' '.join(detail.split())}; fix the module")


_BUILTIN_MODULES = ("resnet", "efficientnet", "vitamin", "fastvit", "ghostnet", "micronet")
_builtins_loaded = False


def _load_builtin_blocks() -> None:
    global _builtins_loaded
    if not _builtins_loaded:
        _builtins_loaded = True
        for module in _BUILTIN_MODULES:
            importlib.import_module(f"blockzoo.blocks.{module}")
