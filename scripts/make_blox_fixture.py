"""Write tests/data/blox-release/: a small BLOX release (6 networks, 5 epochs, seed 0) in BLOX's 12 files.

The files are what BLOX's own writer (tools/make_datasets.py save()) writes for the same rows, byte for byte
(checked against BLOX's code; docs/blox.md). tests/test_blox.py regenerates them and compares.

    python scripts/make_blox_fixture.py [FOLDER]
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from blockzoo.macro import bloxrelease  # noqa: E402

ARCHS = [
    [[[0], [1, 1, 1, 1]], [[1], [1, 1, 0, 0]], [[0], [0, 1, 1, 0]]],  # BLOX's README example
    [[[0], [0, 0, 0, 1]], [[0], [0, 0, 0, 1]], [[0], [0, 0, 0, 1]]],
    [[[1], [1, 1, 1, 1]], [[1], [1, 1, 1, 1]], [[1], [1, 1, 1, 1]]],
    [[[1], [2, 0, 1, 0]], [[2], [0, 1, 0, 1]], [[2], [1, 0, 1, 1]]],  # trained as op2 alone at stage 0: bconv
    [[[2], [0, 1, 1, 0]], [[0], [2, 1, 0, 0]], [[1], [0, 1, 0, 1]]],
    [[[2], [2, 1, 1, 1]], [[0], [1, 0, 1, 1]], [[2], [0, 0, 0, 1]]],
]
EPOCHS = 5


def write(folder: Path) -> list[Path]:
    parts, env_keys = bloxrelease.synthetic(len(ARCHS), EPOCHS, seed=0, archs=ARCHS)
    return bloxrelease.write_release(folder, parts, seed=0, epochs=EPOCHS, env_keys=env_keys)


if __name__ == "__main__":
    for path in write(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "tests" / "data" / "blox-release"):
        print(path)
