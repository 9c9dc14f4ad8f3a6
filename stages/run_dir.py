"""A training stage's run folder, trained where DVC does not delete it, moved into place when finished.

DVC deletes a stage's outputs before it runs the stage. A training run (checkpoints, curve log) is
therefore trained in `.unfinished/<RUN_DIR>`, which no stage declares: a killed run resumes from there
(blockzoo.train.run decides whether its fingerprint allows it), and the finished folder replaces RUN_DIR
in one rename. RUN_DIR is then an ordinary output, which DVC's run-cache saves and restores (it skips
persisted outputs), so a cell trained on another machine comes back through a DVC remote.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from common import ROOT

UNFINISHED = ROOT / ".unfinished"


@contextmanager
def training_into(run_dir: Path) -> Iterator[Path]:
    """Yield the folder to train in; when the block ends without an error, it becomes run_dir."""
    work = UNFINISHED / run_dir.resolve().relative_to(ROOT)
    work.parent.mkdir(parents=True, exist_ok=True)
    yield work
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    if run_dir.exists():
        shutil.rmtree(run_dir)
    os.replace(work, run_dir)
