"""OmegaConf resolvers for conf/config.yaml; DVC imports this when it composes params.yaml (Hydra plugins,
`hydra.plugins_path` in .dvc/config). The logic is blockzoo's own (blockzoo/names.py), from this checkout."""
import sys
from pathlib import Path

from omegaconf import OmegaConf

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from blockzoo import names  # noqa: E402
from blockzoo.errors import BlockzooError  # noqa: E402
from blockzoo.macro.space import macro_cells as listed_macro_cells  # noqa: E402


def cells(zoo, block, positions, block_settings):
    settings = OmegaConf.to_container(block_settings) if block_settings is not None else {}
    return OmegaConf.create(names.pipeline_cells(list(zoo), str(block), list(positions), settings))


def macro_cells(zoo, macro, block_cells):
    try:
        return OmegaConf.create(listed_macro_cells(OmegaConf.to_container(macro), list(zoo), list(block_cells)))
    except BlockzooError:  # a bad architecture: the cells stage says what is wrong, in one line
        return OmegaConf.create([])


def conf_digest():
    return names.conf_digest(Path(__file__).resolve().parents[1])


OmegaConf.register_new_resolver("blockzoo_cells", cells, replace=True)
OmegaConf.register_new_resolver("blockzoo_macro_cells", macro_cells, replace=True)
OmegaConf.register_new_resolver("blockzoo_conf_digest", conf_digest, replace=True)
