"""Stage `train@<block>-<position>-<seed>`: train one cell.

Outputs: runs/<cell>/ (checkpoints and the dvclive log; cached by DVC and persisted between runs,
so a killed run resumes), metrics/train/<cell>.json (the record) and plots/curves/<cell>/ (the
per-epoch curves), both small and tracked by git.
"""
from __future__ import annotations

import shutil
import sys

from common import ROOT, BlockzooError, cell_name, checked_settings, cli_errors, stage_params
from download import dataset_root, fetch_options

from blockzoo import atomic, results
from blockzoo.train import TrainConfig, train

BLOCK_SETTING_KEYS = {"train"}  # what a per-block settings subtree (blocks.<name>) may hold


def block_overrides(block: str, block_settings: dict | None) -> dict:
    block_settings = block_settings or {}
    unknown = set(block_settings) - BLOCK_SETTING_KEYS
    if unknown:
        raise BlockzooError(f"blocks.{block} in params.yaml has unknown keys {sorted(unknown)}; it may hold only: train")
    return block_settings.get("train") or {}


def make_config(block: str, position: str, seed: int, params: dict) -> TrainConfig:
    data = params["data"]
    settings = checked_settings("train", {**params["train"], **block_overrides(block, params["blocks"].get(block))}, TrainConfig)
    fetch = fetch_options(data)
    return TrainConfig(
        block=block, position=position, seed=seed,
        dataset=data["dataset"], data_root=str(dataset_root(data).relative_to(ROOT)),
        data_url=fetch["url"], data_archive=fetch["archive"], data_md5=fetch["md5"],
        val_size=data["val_size"], split_seed=data["split_seed"],
        num_blocks=params["scaffold"]["num_blocks"], base_channels=params["scaffold"]["base_channels"],
        block_modules=tuple(params.get("block_modules") or ()),
        out_dir=f"runs/{cell_name(block, position, seed)}",  # relative: DVC runs stages from the repo root
        **settings,
    )


def start_afresh_if_finished(config: TrainConfig) -> None:
    """runs/<cell> persists between runs so that a killed run resumes from its last checkpoint.

    A finished run (it has its record) that DVC runs again was invalidated by a change DVC saw
    (code, data or settings): it starts from scratch. train() itself also refuses to resume a run
    of other settings.
    """
    run_dir = ROOT / config.out_dir
    if (run_dir / "record.json").exists():
        shutil.rmtree(run_dir)


def publish_curves(config: TrainConfig, cell: str) -> None:
    """Copy dvclive's per-epoch TSVs to the git-tracked plots/curves/<cell>/."""
    source = ROOT / config.out_dir / "live" / "plots" / "metrics"
    target = ROOT / "plots" / "curves" / cell
    target.mkdir(parents=True, exist_ok=True)
    for tsv in sorted(source.glob("*.tsv")):
        atomic.write_text(target / tsv.name, tsv.read_text())


@cli_errors
def main(block: str, position: str, seed: str) -> None:
    config = make_config(block, position, int(seed), stage_params())
    start_afresh_if_finished(config)
    record = train(config)
    cell = cell_name(block, position, int(seed))
    publish_curves(config, cell)
    results.write_record(ROOT / "metrics" / "train" / f"{cell}.json", record)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
