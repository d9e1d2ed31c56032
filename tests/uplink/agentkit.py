"""Run a real `kdfm-agent run` process against a real gateway process, for e2e and fault tests."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import yaml
from kdfm_agent.spool import Spool

from ..cloud.kit import Pki, Service

SPOOLED = re.compile(r"spooled readings ((?:\S+ ?)+)$", re.MULTILINE)
SPOOLING = re.compile(r"spooling readings ((?:\S+ ?)+)$", re.MULTILINE)


def agent_service(directory: Path, pki: Pki, *, tenant: str, agent_id: str, gateway_port: int,
                  targets: list[str], community: str, read_interval: float = 300.0,
                  mqtt: dict[str, Any] | None = None, batch: int = 100) -> Service:
    """`kdfm-agent run` (not started) with explicit TLS files, short retry waits, DEBUG log."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = pki.agent_files(tenant, agent_id)
    config: dict[str, Any] = {
        "tenant": tenant,
        "agent_id": agent_id,
        "state_dir": str(directory / "state"),
        "gateway": {"address": f"127.0.0.1:{gateway_port}", "ca_file": str(pki.ca_file),
                    "cert_file": str(cert), "key_file": str(key), "server_name": "localhost",
                    "timeout_seconds": 10.0, "upload_batch_size": batch},
        "poll": {"retry_min_seconds": 0.2, "retry_max_seconds": 1.0},
        "spool": {"flush_interval_seconds": 1.0},
        "read": {"targets": targets, "interval_seconds": read_interval,
                 "timeout_seconds": 2.0, "retries": 1,
                 "credentials": [{"name": "recording", "community": community}]},
    }
    if mqtt is not None:
        config["mqtt"] = mqtt
    path = directory / "agent.yaml"
    path.write_text(yaml.safe_dump(config))
    return Service([sys.executable, "-m", "kdfm_agent.cli", "run", "--config", str(path),
                    "--log-level", "DEBUG"], directory / "agent.log")


def spooled_ids(log: str) -> list[str]:
    """Every reading id the agent said it spooled (committed to disk), in order."""
    return [i for match in SPOOLED.finditer(log) for i in match.group(1).split()]


def spooling_ids(log: str) -> list[str]:
    """Every reading id the agent was about to spool (a kill may have come in between)."""
    return [i for match in SPOOLING.finditer(log) for i in match.group(1).split()]


def spool_ids(directory: Path) -> list[str]:
    """Reading ids still in the agent's spool file (the agent must be stopped)."""
    path = directory / "state" / "spool.db"
    if not path.exists():
        return []
    with Spool(path) as spool:
        return spool.reading_ids()
