"""Which configuration a management command uses: --config FILE, else the local stack's."""

from __future__ import annotations

from pathlib import Path

from kdfm_cloud.endpoints import DEFAULT_STATE_DIR
from kdfm_cloud.errors import ConfigError
from kdfm_cloud.settings import CloudSettings, load_settings

CONFIG_FILE = "cloud.yaml"


def load_stack_settings(config: Path | None, state_dir: Path | None) -> CloudSettings:
    """--config when given, else `cloud.yaml` of the stack in --state-dir (or the default)."""
    if config is not None:
        return load_settings(config)
    path = (state_dir or DEFAULT_STATE_DIR) / CONFIG_FILE
    if not path.exists():
        raise ConfigError(f"no {path}: run `kdfm-cloud dev up` or pass --config FILE")
    return load_settings(path)
