"""Compose params.yaml from conf/ exactly as `dvc exp run` does (DVC's own Hydra composition), without
running anything: `python scripts/compose_params.py [OVERRIDE ...]`, e.g. `setting=tryout block=RepMixer`.
`make params` writes conf/config.yaml from the settings classes (scripts/write_conf.py), then runs this with no
overrides: do that after changing a default or a file under conf/setting/, then commit what changed.

Every setting is checked first, as the cells stage checks params.yaml (blockzoo.params), and params.yaml is
written only then, atomically: a bad key or value stops it with one line (`error: ...`, exit status 2) and
leaves params.yaml as it was. `dvc exp run -S` runs the same `check` while it composes (conf/hydra_plugins/), so
a setting it rejects leaves params.yaml as it was too."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for _folder in (ROOT / "stages", ROOT):  # this checkout's blockzoo, as the stages import it, and stages/conf_digest.py
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))

from blockzoo.errors import cli_errors  # noqa: E402


def compose(overrides: list[str], root: Path = ROOT, output: Path | None = None) -> None:
    """Write params.yaml (or `output`) composed from root/conf with `overrides`, once every setting is checked."""
    import yaml
    from dvc.repo import Repo
    from dvc.utils.hydra import compose_and_dump
    from omegaconf.errors import OmegaConfBaseException

    from conf_digest import conf_digest

    from blockzoo import atomic
    from blockzoo.errors import BlockzooError

    config = Repo(str(root)).config.get("hydra", {})
    with atomic.atomic_path(output or root / "params.yaml") as composed:
        try:  # composition errors are one line already (conf/hydra_plugins/); resolving ${...} ones are not
            compose_and_dump(composed, str(root / config.get("config_dir", "conf")), None,
                             config.get("config_name", "config"), str(root / config.get("plugins_path", "")),
                             overrides)
        except OmegaConfBaseException as exc:
            raise BlockzooError(f"conf/ does not compose: {' '.join(str(exc).split())}") from None
        text = composed.read_text()
        params = yaml.safe_load(text)
        digest = conf_digest(root / config.get("config_dir", "conf"))
        if params.get("conf_digest") != digest:  # Hydra loads its plugins once a process: another checkout's resolver
            text = text.replace(f"conf_digest: {params['conf_digest']}", f"conf_digest: {digest}", 1)
            composed.write_text(text)
            params["conf_digest"] = digest
        check(params, root)


def check(params: dict, root: Path = ROOT) -> None:
    """The cells stage's checks of params.yaml that need no network built (stages/cells.py); the block registry
    (torch, seconds) only for a block outside the built-in zoo or a variant."""
    from blockzoo.params import PipelineSettings
    from blockzoo_cluster.settings import check_cluster_settings

    check_cluster_settings(params)
    settings = PipelineSettings.from_params(params)
    if settings.needs_the_registry():
        from blockzoo.blocks.registry import import_block_modules, user_block_files

        import_block_modules(user_block_files(root / "user_blocks"))
        settings.check_with_the_library()


@cli_errors
def main(overrides: list[str], root: Path = ROOT) -> None:
    compose(overrides, root)
    print(f"composed {root / 'params.yaml'} from conf/" + (f" with {' '.join(overrides)}" if overrides else ""))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
