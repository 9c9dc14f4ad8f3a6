"""blockzoo: a fair, fast, reproducible benchmark for convolutional blocks.

The names below are imported on first use, so that light entry points (results, visualize, the
aggregate stage) start without loading torch and timm.
"""
from __future__ import annotations

import importlib

__version__ = "0.4.0"

_EXPORTS = {
    "POSITIONS": "blockzoo.blocks.registry",
    "create_block": "blockzoo.blocks.registry",
    "get_block": "blockzoo.blocks.registry",
    "import_block_modules": "blockzoo.blocks.registry",
    "list_available_blocks": "blockzoo.blocks.registry",
    "register_block": "blockzoo.blocks.registry",
    "BlockzooError": "blockzoo.errors",
    "ScaffoldNet": "blockzoo.scaffold",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'blockzoo' has no attribute {name!r}")
