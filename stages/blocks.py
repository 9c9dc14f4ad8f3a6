"""Stage `blocks`: one fingerprint per registered block (its source file's hash).

Every cell depends on its own block's fingerprint, so editing one block's source file re-runs
only the cells of the blocks defined in that file.
"""
from __future__ import annotations

import hashlib
import inspect
import sys
from pathlib import Path

from common import ROOT, BlockzooError, cli_errors, stage_params

from blockzoo import atomic
from blockzoo.blocks import get_block, import_block_modules, list_available_blocks

OUT_DIR = ROOT / "pipeline" / "blocks"


def fingerprint(name: str) -> dict:
    entry = get_block(name)
    source = Path(inspect.getsourcefile(sys.modules[entry.source])).resolve()
    if not source.is_relative_to(ROOT):
        raise BlockzooError(
            f"block {name} is defined in {source}, outside this repository, so DVC cannot see changes to it; "
            "move its module under user_blocks/ and name it in block_modules"
        )
    return {
        "block": name,
        "source": str(source.relative_to(ROOT)),
        "sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
    }


@cli_errors
def main() -> None:
    params = stage_params()
    import_block_modules(params.get("block_modules") or [])
    names = list_available_blocks()
    for stale in OUT_DIR.glob("*.json"):
        if stale.stem not in names:
            stale.unlink()
    for name in names:
        atomic.write_json(OUT_DIR / f"{name}.json", fingerprint(name))
    print(f"fingerprinted {len(names)} blocks into {OUT_DIR.relative_to(ROOT)}/")


if __name__ == "__main__":
    sys.exit(main())
