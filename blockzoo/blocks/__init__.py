"""The zoo: the block registry and one module per block family."""
from blockzoo.blocks.registry import (
    POSITIONS,
    check_position,
    create_block,
    get_block,
    import_block_modules,
    list_available_blocks,
    register_block,
)

__all__ = [
    "POSITIONS",
    "check_position",
    "create_block",
    "get_block",
    "import_block_modules",
    "list_available_blocks",
    "register_block",
]
