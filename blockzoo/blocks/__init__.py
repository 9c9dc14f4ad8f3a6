"""The zoo: the block registry (blockzoo.blocks.registry) and one module per block family."""
from blockzoo.blocks.registry import (  # noqa: F401
    POSITIONS,
    BlockEntry,
    check_position,
    create_block,
    get_block,
    import_block_modules,
    list_available_blocks,
    register_block,
    unregister_block,
)
