"""Shared wiring for the stage scripts: the repository root on sys.path, DVC's view of a stage's params.

Paths are dvc.yaml's: every stage gets the files it reads and writes as arguments.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # stages run as scripts; make `blockzoo` importable without installing
    sys.path.insert(0, str(ROOT))

from blockzoo.errors import BlockzooError, cli_errors  # noqa: E402

__all__ = ["ROOT", "BlockzooError", "cli_errors", "stage_params"]


def stage_params() -> dict:
    """The params of the running stage, as DVC tracks them (nothing it does not track is visible).

    DVC sets DVC_STAGE to the stage's address (e.g. "train@RepMixer-mid-0") for every command it runs.
    """
    stage = os.environ.get("DVC_STAGE")
    if not stage:
        raise BlockzooError("this script is a DVC stage; run it with `dvc repro <stage>` "
                            "(e.g. `dvc repro -s profile@InvertedResidual-mid`)")
    import dvc.api

    return dvc.api.params_show(stages=[stage], repo=str(ROOT))

