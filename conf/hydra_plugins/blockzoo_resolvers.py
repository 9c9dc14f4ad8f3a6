"""OmegaConf resolvers for conf/config.yaml; DVC imports this when it composes params.yaml (Hydra plugins,
`hydra.plugins_path` in .dvc/config). The logic is blockzoo's own (blockzoo/names.py), and the digest of conf/ the
cells stage checks (stages/conf_digest.py), from this checkout.

It also makes Hydra's composition errors one line, for `dvc exp run -S` and scripts/compose_params.py alike: a
`key=value` for a key conf/ lacks names the closest known key (Hydra's own answer is a hint to write +key=value),
and any other composition error (an unknown setting/NAME, an override that does not parse) is its first line.
They are raised as SettingError: a BlockzooError (compose_params.py prints `error: ...`) and a DvcException (DVC
prints `ERROR: ...`, without a traceback or its "unexpected error" footer)."""
import dataclasses
import difflib
import re
import sys
from pathlib import Path

import yaml
from omegaconf import OmegaConf

REPO = Path(__file__).resolve().parents[2]
for _folder in (REPO / "stages", REPO):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))

from conf_digest import conf_digest as digest_of  # noqa: E402

from blockzoo import names  # noqa: E402
from blockzoo.checks import closest_hint  # noqa: E402
from blockzoo.errors import BlockzooError  # noqa: E402
from blockzoo.macro.space import macro_cells as listed_macro_cells  # noqa: E402
from blockzoo.params import PipelineSettings  # noqa: E402


def cells(zoo, block, positions, block_settings):
    settings = OmegaConf.to_container(block_settings) if block_settings is not None else {}
    return OmegaConf.create(names.pipeline_cells(list(zoo), str(block), list(positions), settings))


def macro_cells(zoo, macro, block_cells):
    try:
        return OmegaConf.create(listed_macro_cells(OmegaConf.to_container(macro), list(zoo), list(block_cells)))
    except BlockzooError:  # a bad architecture: the cells stage says what is wrong, in one line
        return OmegaConf.create([])


def conf_digest():
    return digest_of(Path(__file__).resolve().parents[1])


OmegaConf.register_new_resolver("blockzoo_cells", cells, replace=True)
OmegaConf.register_new_resolver("blockzoo_macro_cells", macro_cells, replace=True)
OmegaConf.register_new_resolver("blockzoo_conf_digest", conf_digest, replace=True)


try:
    from dvc.exceptions import DvcException
except ImportError:  # composed without DVC
    DvcException = Exception


class SettingError(BlockzooError, DvcException):
    """A setting conf/ or an override got wrong, in one line."""


COMPUTED = {field.name: field.metadata["from"] for field in dataclasses.fields(PipelineSettings)
            if "resolver" in field.metadata}  # each computed key: what it is computed from


def unknown_key(override, cfg) -> str | None:
    """The one line for a plain `key=value` whose key conf/ does not have (None when it has it)."""
    parts, node = override.key_or_group.split("."), cfg
    for depth, part in enumerate(parts):
        if not OmegaConf.is_dict(node):
            return None  # a list index or a value: Hydra's own check
        keys = [str(key) for key in node.keys() if key != "hydra"]
        if part not in keys:
            where = ".".join(parts[:depth])
            if not keys:  # a free mapping (block_settings, macro.train): its keys are the user's
                return (f"'{override.key_or_group}' is not in conf/ yet ({where} is empty): add it with "
                        f"+{override.input_line}")
            prefix, rest = f"{where}." if where else "", "".join(f".{p}" for p in parts[depth + 1:])
            close = difflib.get_close_matches(part, keys, n=1, cutoff=0.5)
            hint = f"did you mean '{prefix}{close[0]}{rest}'?" if close else closest_hint(part, keys, prefix)
            nested = [f"{key}.{part}" for key in keys
                      if OmegaConf.is_dict(child := node._get_node(key)) and part in child.keys()]
            if not depth and nested and not hint.startswith("did you mean"):
                hint = f"did you mean '{nested[0]}'?"
            return f"unknown setting '{override.key_or_group}'; {hint}"
        node = node._get_node(part)
    return None


def check_composed(cfg, search_path) -> None:
    """Every setting of the composed params.yaml checked as the cells stage checks it (compose_params.check),
    before DVC writes the file: a `dvc exp run -S block=NoSuch` it rejects leaves params.yaml as it was."""
    conf = next((Path(entry.path) for entry in search_path.get_path() if entry.provider == "main"), None)
    if conf is None or not (conf.parent / "scripts" / "compose_params.py").is_file():
        return  # not a blockzoo checkout's conf/: nothing of ours to check
    if str(conf.parent / "scripts") not in sys.path:
        sys.path.insert(0, str(conf.parent / "scripts"))
    from compose_params import check

    params = OmegaConf.to_container(OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"]), resolve=True)
    try:
        check(params, conf.parent)  # that checkout's user_blocks/ (Hydra loads this plugin once a process)
    except BlockzooError as exc:
        raise SettingError(str(exc)) from None


def _one_line_composition() -> None:
    try:
        from hydra._internal.config_loader_impl import ConfigLoaderImpl
        from hydra.errors import HydraException, MissingConfigException, OverrideParseException
    except ImportError:  # another Hydra: its own messages
        return
    if getattr(ConfigLoaderImpl.load_configuration, "one_line", False):
        return
    apply_overrides = ConfigLoaderImpl._apply_overrides_to_config
    load_configuration = ConfigLoaderImpl.load_configuration

    def checked_overrides(overrides, cfg):
        for override in overrides:
            if override.key_or_group in COMPUTED:
                raise SettingError(f"{override.key_or_group} is computed from {COMPUTED[override.key_or_group]}; "
                                   "set those instead")
            added = override.is_add() or override.is_force_add() or override.is_delete()
            problem = unknown_key(override, cfg) if not added and override.package is None else None
            if problem:
                raise SettingError(problem)
        return apply_overrides(overrides, cfg)

    def one_line_load(self, config_name, overrides, *args, **kwargs):
        try:
            cfg = load_configuration(self, config_name, overrides, *args, **kwargs)
            check_composed(cfg, self.get_search_path())
            return cfg
        except SettingError:
            raise
        except MissingConfigException as exc:
            group, _, name = str(exc.missing_cfg_file or "").rpartition("/")
            if not (group and exc.options):
                raise SettingError(" ".join(str(exc).split())) from None
            raise SettingError(f"unknown {group}={name}: conf/{group}/ has no {name}.yaml; "
                               f"{closest_hint(name, exc.options, f'{group}=')}") from None
        except yaml.YAMLError as exc:
            raise SettingError(f"a file under conf/ is not valid YAML: {' '.join(str(exc).split())}") from None
        except OverrideParseException as exc:
            raise SettingError(f"cannot read the override: {' '.join(str(exc).split())}") from None
        except HydraException as exc:
            appended = re.fullmatch(r"Could not override '(.+)'\.\nTo append to your config use (\+.+)", str(exc))
            key = getattr(exc.__cause__, "full_key", None)
            if appended and key:  # a mapping given for a mapping of conf/ that lacks one of its keys
                raise SettingError(f"'{key}' is not in conf/ yet: add it with {appended[2]}") from None
            cause = f" ({' '.join(str(exc.__cause__).split())})" if exc.__cause__ else ""
            raise SettingError(" ".join(str(exc).split()) + cause) from None

    one_line_load.one_line = True
    ConfigLoaderImpl._apply_overrides_to_config = staticmethod(checked_overrides)
    ConfigLoaderImpl.load_configuration = one_line_load


_one_line_composition()
