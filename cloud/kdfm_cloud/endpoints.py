"""`DIR/endpoints.json`: where the local stack listens, written by `kdfm-cloud dev up`.

Keys: gateway (host:port agents enrol at: server-authenticated TLS), gateway_mtls (host:port of
the mutual-TLS port enrolled agents dial; they learn it when enrolling), ca_bundle (path),
mqtt_wss, mqtt_tls (the cloud's accounts), mqtt_agents (agents, with their certificate), vault
(URLs or host:port), database (URL). Other commands find the stack's database through it.
"""

from __future__ import annotations

import json
from pathlib import Path

from kdfm_cloud.errors import ConfigError

DEFAULT_STATE_DIR = Path(".kdfm/dev")
ENDPOINTS_FILE = "endpoints.json"
KEYS = ("gateway", "gateway_mtls", "ca_bundle", "mqtt_wss", "mqtt_tls", "mqtt_agents", "vault",
        "database")


def write_endpoints(state_dir: Path, endpoints: dict[str, str]) -> Path:
    """Write the stack's endpoints; every key of KEYS must be present."""
    missing = [k for k in KEYS if k not in endpoints]
    if missing:
        raise ValueError(f"endpoints lack {', '.join(missing)}")
    path = state_dir / ENDPOINTS_FILE
    path.write_text(json.dumps(endpoints, indent=2) + "\n", encoding="utf-8")
    return path


def read_endpoints(state_dir: Path) -> dict[str, str]:
    """The endpoints of the stack in `state_dir`; ConfigError when there is none."""
    path = state_dir / ENDPOINTS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ConfigError(f"no local stack in {state_dir} ({path} is missing): run "
                          "`kdfm-cloud dev up` or pass --database URL") from err
    except (OSError, ValueError) as err:
        raise ConfigError(f"{path} is unreadable: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path} is not a JSON object")
    return {str(k): str(v) for k, v in data.items()}


def database_url(database: str | None, state_dir: Path | None) -> str:
    """--database when given, else the database of the stack in --state-dir (or the default)."""
    if database:
        return database
    return read_endpoints(state_dir or DEFAULT_STATE_DIR)["database"]
