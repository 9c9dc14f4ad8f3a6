"""Shared wiring for the stage scripts: DVC's view of a stage's params, cell names, paths."""
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # stages run as scripts; make `blockzoo` importable without installing
    sys.path.insert(0, str(ROOT))

from blockzoo.errors import BlockzooError, cli_errors  # noqa: E402

__all__ = ["ROOT", "BlockzooError", "checked_settings", "cli_errors", "cell_name", "scaffold_options", "stage_params"]


def stage_params() -> dict:
    """The params of the running stage, as DVC tracks them (nothing it does not track is visible).

    DVC sets DVC_STAGE to the stage's address (e.g. "train@RepMixer-mid-0") for every command it runs.
    """
    stage = os.environ.get("DVC_STAGE")
    if not stage:
        raise BlockzooError("this script is a DVC stage; run it with `dvc repro <stage>` (e.g. `dvc repro -s profile@ResNetBasicBlock-mid`)")
    import dvc.api

    return dvc.api.params_show(stages=[stage], repo=str(ROOT))


def cell_name(block: str, position: str, seed: int | None = None) -> str:
    return f"{block}-{position}" + ("" if seed is None else f"-s{seed}")


def scaffold_options(params: dict) -> dict:
    """How a cell's network is built: the scaffold settings, the dataset's classes and channels, user modules."""
    from blockzoo.data import get_dataset_info

    dataset = get_dataset_info(params["data"]["dataset"])
    return {
        **params["scaffold"],
        "num_classes": dataset.num_classes,
        "in_chans": dataset.in_chans,
        "block_modules": params.get("block_modules") or (),
    }


def checked_settings(section: str, settings: dict, function) -> dict:
    """`settings` (params.yaml's `section`) if every key is an argument of `function`, else a one-line error."""
    import inspect

    accepted = set(inspect.signature(function).parameters)
    unknown = sorted(set(settings) - accepted)
    if unknown:
        raise BlockzooError(f"unknown setting(s) {', '.join(f'{section}.{k}' for k in unknown)} in params.yaml; "
                            f"valid {section} settings: {', '.join(sorted(accepted - {'block', 'position'}))}")
    return settings
