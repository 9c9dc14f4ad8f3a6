"""OmegaConf resolvers for conf/config.yaml; DVC imports this when it composes params.yaml (Hydra plugins,
`hydra.plugins_path` in .dvc/config). The logic is blockzoo's own, loaded from blockzoo/names.py by path."""
import importlib.util
from pathlib import Path

from omegaconf import OmegaConf

_NAMES = Path(__file__).resolve().parents[2] / "blockzoo" / "names.py"
_spec = importlib.util.spec_from_file_location("blockzoo_names_for_hydra", _NAMES)
names = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(names)


def cells(zoo, block, positions, block_settings):
    settings = OmegaConf.to_container(block_settings) if block_settings is not None else {}
    return OmegaConf.create(names.pipeline_cells(list(zoo), str(block), list(positions), settings))


def conf_digest():
    return names.conf_digest(Path(__file__).resolve().parents[1])


OmegaConf.register_new_resolver("blockzoo_cells", cells, replace=True)
OmegaConf.register_new_resolver("blockzoo_conf_digest", conf_digest, replace=True)
