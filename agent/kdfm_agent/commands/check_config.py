"""`kdfm-agent check-config --config FILE`: validate the configuration without running.

Prints the effective settings (secrets masked) and who the agent will be for the cloud.
With --settings-only the identity is not looked at, so a configuration can be checked before
the agent is enrolled (the Ansible role validates its template this way).
Exit status: 0 when the file is valid (and, without --settings-only, the identity usable),
2 otherwise.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from kdfm_agent.errors import AgentError
from kdfm_agent.runner import resolve_uplink
from kdfm_agent.settings import load_settings

_SECRETS = {"community", "auth_key", "priv_key"}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("check-config", help="validate the agent's configuration file")
    parser.add_argument("--config", type=Path, required=True, help="YAML configuration file")
    parser.add_argument("--json", action="store_true", help="print the effective settings as JSON")
    parser.add_argument("--settings-only", action="store_true",
                        help="check the file only, not the identity (before enrolment)")
    parser.set_defaults(func=run)


def _masked(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("***" if k in _SECRETS and v else _masked(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(v) for v in value]
    return value


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config)
        uplink = None if args.settings_only else resolve_uplink(settings)
    except AgentError as err:
        print(f"kdfm-agent check-config: {err}", file=sys.stderr)
        return 2
    effective = _masked(dataclasses.asdict(settings))
    if args.json:
        agent = None if uplink is None else {"tenant": uplink.tenant,
                                             "agent_id": uplink.agent_id,
                                             "gateway": uplink.address}
        print(json.dumps({"agent": agent, "settings": effective}, indent=2))
    else:
        print(f"{args.config}: valid")
        print("identity not checked (--settings-only)" if uplink is None
              else f"agent {uplink.tenant}/{uplink.agent_id} -> gateway {uplink.address}")
        print(f"{len(settings.read.targets)} targets, read every "
              f"{settings.read.interval_seconds:.0f} s, poll every "
              f"{settings.poll.interval_seconds:.0f} s")
        mqtt = settings.mqtt
        print(f"nudges: {mqtt.transport} {mqtt.host}:{mqtt.port}" if mqtt.host
              else "nudges: off (polling only)")
    return 0
