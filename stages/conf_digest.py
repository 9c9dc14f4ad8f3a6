"""The digest of conf/ that params.yaml records: the Hydra resolver (conf/hydra_plugins/) writes it as it composes
params.yaml, the cells stage refuses a params.yaml whose conf/ has changed since, and scripts/compose_params.py and
`python -m blockzoo_cluster why` compare it. It lives with the stages, not in the library: conf/ is the pipeline's."""
from __future__ import annotations

import hashlib
from pathlib import Path


def conf_digest(conf_dir) -> str:
    """A digest of the settings files under conf/ (*.yaml): params.yaml records the one it was composed from."""
    digest = hashlib.sha256()
    for path in sorted(Path(conf_dir).rglob("*.yaml")):
        digest.update(str(path.relative_to(conf_dir)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]
