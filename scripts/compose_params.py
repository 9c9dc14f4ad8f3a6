"""Compose params.yaml from conf/ exactly as `dvc exp run` does (DVC's own Hydra composition), without
running anything: `python scripts/compose_params.py [OVERRIDE ...]`, e.g. `setting=tryout block=RepMixer`.
`make params` runs it with no overrides: do that after editing conf/, then commit both."""
from __future__ import annotations

import sys
from pathlib import Path

from dvc.repo import Repo
from dvc.utils.hydra import compose_and_dump

ROOT = Path(__file__).resolve().parent.parent


def compose(overrides: list[str], root: Path = ROOT, output: Path | None = None) -> None:
    """Write params.yaml (or `output`) composed from root/conf with `overrides`."""
    config = Repo(str(root)).config.get("hydra", {})
    compose_and_dump(output or root / "params.yaml", str(root / config.get("config_dir", "conf")), None,
                     config.get("config_name", "config"), str(root / config.get("plugins_path", "")), overrides)


if __name__ == "__main__":
    compose(sys.argv[1:])
    print(f"composed {ROOT / 'params.yaml'} from conf/" + (f" with {' '.join(sys.argv[1:])}" if sys.argv[1:] else ""))
