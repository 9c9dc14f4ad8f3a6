"""blockzoo: a fair, fast, reproducible benchmark for convolutional blocks."""
from blockzoo.blocks import (
    POSITIONS,
    create_block,
    get_block,
    import_block_modules,
    list_available_blocks,
    register_block,
)
from blockzoo.errors import BlockzooError
from blockzoo.scaffold import ScaffoldNet

__version__ = "0.4.0"

__all__ = [
    "POSITIONS",
    "BlockzooError",
    "ScaffoldNet",
    "create_block",
    "get_block",
    "import_block_modules",
    "list_available_blocks",
    "register_block",
]
