"""The per-epoch curves of a training run, written as DVC reads plots: one `<metric>.tsv` per metric.

The library writes this format itself rather than through dvclive, whose logger opens (and in a bare git
repository initialises) a DVC repo: the library knows nothing of DVC. The layout is dvclive's, so
`dvc plots` and the curves reader take it unchanged:

    <dir>/metrics.json              the latest value of every metric, and its step
    <dir>/plots/metrics/<name>.tsv  a header `step<TAB><name>`, then one row per logged step
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from lightning.pytorch.loggers import Logger

from blockzoo import atomic


class CurveLog:
    """Append-only per-step metrics under one folder; `step` is set by the caller before it logs."""

    def __init__(self, folder: str | Path, resume: bool = False):
        self.dir = Path(folder)
        if not resume and self.dir.exists():
            shutil.rmtree(self.dir)
        self.plots_dir = self.dir / "plots"
        (self.plots_dir / "metrics").mkdir(parents=True, exist_ok=True)
        self.step = 0
        self._latest: dict[str, float] = {}

    def log_metric(self, name: str, value: float) -> None:
        path = self.plots_dir / "metrics" / f"{name}.tsv"
        new = not path.is_file()
        with open(path, "a", encoding="utf-8") as f:
            if new:
                f.write(f"step\t{name}\n")
            f.write(f"{self.step}\t{float(value)!r}\n")
        self._latest[name] = float(value)

    def sync(self) -> None:
        atomic.write_text(self.dir / "metrics.json", json.dumps({**self._latest, "step": self.step}, indent=2))


class CurveLogger(Logger):
    """Lightning's handle on a CurveLog: the modules log through `self.logger.experiment` once per epoch."""

    def __init__(self, folder: str | Path, resume: bool = False):
        super().__init__()
        self._log = CurveLog(folder, resume=resume)

    @property
    def name(self) -> str:
        return "curves"

    @property
    def version(self):  # no run name in the progress bar
        return None

    @property
    def experiment(self) -> CurveLog:
        return self._log

    def log_metrics(self, metrics, step=None) -> None:
        """Lightning's own logging is off (the modules log with logger=False and write the log themselves)."""

    def log_hyperparams(self, params, *args, **kwargs) -> None:
        """The run's settings are in its record and config.json, not in the curves."""


def curve_log_problems(folder: Path) -> list[tuple[Path, str]]:
    """The files of a curve log a resumed run could not append to, and why."""
    problems = []
    for path in [folder / "metrics.json", *sorted((folder / "plots").rglob("*.tsv"))]:
        if not path.is_file():
            continue
        try:
            if path.suffix == ".json":
                ok = isinstance(json.loads(path.read_text(encoding="utf-8")), dict)
            else:
                ok = "step" in path.read_text(encoding="utf-8").partition("\n")[0].split("\t")
        except (OSError, UnicodeDecodeError, ValueError):
            ok = False
        if not ok:
            problems.append((path, "it is not a readable curve log file"))
    return problems
