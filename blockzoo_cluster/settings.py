"""params.yaml's `cluster` section: what each cell asks of a Ray node (no Ray here).

The library's check of params.yaml (blockzoo.params) leaves this section to the runner: the cells stage and
scripts/compose_params.py run `check_cluster_settings` beside it, so a bad cluster setting stops before any cell.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from blockzoo.checks import NON_NEGATIVE, POSITIVE, Settings, non_negative_number
from blockzoo.errors import BlockzooError

# Which resources a stage's cells take, by the stage's name in dvc.yaml
TRAINING_STAGES = ("train", "macro_train", "dynamic")
TIMING_STAGES = ("benchmark", "macro_benchmark", "noise_check")


def is_timing(stage: str) -> bool:
    return stage.split("@")[0] in TIMING_STAGES


@dataclass(frozen=True)
class ClusterSettings(Settings):
    """What each cell asks of a node when `python -m blockzoo_cluster run` spreads the cells over a Ray cluster."""

    SECTION = "cluster"

    train_cpus: int = field(default=2, metadata=POSITIVE)  # CPU cores per training cell (train, macro_train, dynamic)
    train_gpus: float = field(default=1.0, metadata={"check": non_negative_number})  # GPUs per training cell
    benchmark_cpus: int = field(default=1, metadata=POSITIVE)  # per timing cell (benchmark, noise_check)
    benchmark_gpus: float = field(default=1.0, metadata={"check": non_negative_number})
    profile_cpus: int = field(default=1, metadata=POSITIVE)  # per profile cell (FLOPs, parameters, memory)
    retries: int = field(default=2, metadata=NON_NEGATIVE)  # a cell whose worker died is tried again this often
    exclusive_timing: bool = True  # timing cells last, one at a time, nothing else running: latency as on one machine

    def is_exclusive(self, stage: str) -> bool:
        """True for a timing cell that must run alone on the cluster."""
        return self.exclusive_timing and is_timing(stage)

    def resources(self, stage: str, cluster_has_gpus: bool) -> dict[str, float]:
        """Ray resources of one cell of `stage` (e.g. "train@RepMixer-mid-0"); GPUs only on a cluster with GPUs."""
        kind = stage.split("@")[0]
        if kind in TRAINING_STAGES:
            cpus, gpus = self.train_cpus, self.train_gpus
        elif kind in TIMING_STAGES:
            cpus, gpus = self.benchmark_cpus, self.benchmark_gpus
        else:
            cpus, gpus = self.profile_cpus, 0.0
        return {"num_cpus": cpus, "num_gpus": gpus if cluster_has_gpus else 0.0}


def check_cluster_settings(params: Mapping[str, Any]) -> ClusterSettings:
    """The `cluster` section of params.yaml (a whole params mapping), checked: one line naming the first bad key
    or value; a cluster key written at the top level is named with its section."""
    for key in params:
        if key in ClusterSettings.keys():
            raise BlockzooError(f"unknown setting '{key}'; did you mean 'cluster.{key}'?")
    return ClusterSettings.from_dict(params.get("cluster"))
