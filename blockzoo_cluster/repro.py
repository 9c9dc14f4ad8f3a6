"""`python -m blockzoo_cluster.repro ARGS`: DVC's own `dvc repro ARGS`, with dvc.lock written once at its end.

DVC rewrites the whole dvc.lock after every stage it runs or restores (a round-trip YAML parse and dump of the
file): 2.1 s a stage at the 8,200 lines of the committed lock, and the lock grows by ~120 lines a cell, so the
driver's closing `dvc repro`, which restores every cell of a cluster run from the run-cache, took time quadratic
in the cells (~2 s each for the 158 stages of the 3-seed reference, more for larger runs). Here each stage DVC
reproduces is kept and all are written in one `dump_stages` when the repro ends, also when it fails, so what it
finished stays recorded. Everything else is DVC's `dvc repro`: its arguments, output, run-cache and exit code.
"""
from __future__ import annotations

import sys
from unittest import mock


def main(argv: list[str]) -> int:
    from dvc.cli import main as dvc_main
    from dvc.repo import reproduce as dvc_reproduce

    reproduce_all = dvc_reproduce._reproduce

    def reproduce_then_write_lock_once(stages, **kwargs):
        finished = []

        def reproduce_stage(stage, **stage_kwargs):  # DVC's _reproduce_stage, without its dvc.lock write
            if stage.frozen and not stage.is_import:
                dvc_reproduce.logger.warning("%s is frozen. Its dependencies are not going to be reproduced.", stage)
            ret = stage.reproduce(**stage_kwargs)
            if ret and not stage_kwargs.get("dry", False):
                finished.append(stage)
            return ret

        try:
            return reproduce_all(stages, repro_fn=reproduce_stage, **kwargs)
        finally:
            by_file: dict[str, list] = {}
            for stage in finished:
                by_file.setdefault(stage.dvcfile.path, []).append(stage)
            for same_file in by_file.values():
                same_file[0].dvcfile.dump_stages(same_file, update_pipeline=False)

    with mock.patch.object(dvc_reproduce, "_reproduce", reproduce_then_write_lock_once):
        return dvc_main(["repro", *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
