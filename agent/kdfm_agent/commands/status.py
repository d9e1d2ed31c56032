"""`kdfm-agent status`: is this agent enrolled, disabled, and when does its certificate renew."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from kdfm_agent import identity, lockout


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("status", help="show enrollment and lockout state")
    parser.add_argument("--state-dir", required=True, type=Path,
                        help="where the agent keeps its key, certificate and state")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of text")
    parser.set_defaults(func=run)


def collect(state_dir: Path) -> dict[str, Any]:
    state = lockout.load(state_dir)
    status: dict[str, Any] = {
        "disabled": state.disabled,
        "reason": state.reason,
        "failed_activation_attempts": state.failed_attempts,
        "enrolled": False,
    }
    try:
        loaded = identity.load_identity(state_dir)
    except identity.IdentityError as err:
        status["identity_error"] = str(err)
        return status
    if loaded is not None:
        cert = loaded.certificate
        status.update(
            enrolled=True, agent_id=loaded.record.agent_id, tenant=loaded.record.tenant,
            gateway=loaded.record.gateway, certificate_valid=loaded.valid_at(),
            not_after=cert.not_valid_after_utc.isoformat(),
            renew_at=identity.renewal_time(cert).isoformat(),
        )
    return status


def run(args: argparse.Namespace) -> int:
    status = collect(args.state_dir)
    if args.json:
        print(json.dumps(status))
    else:
        for key, value in status.items():
            print(f"{key:28} {value}")
    if status["disabled"]:
        print("the agent is disabled; only a re-provision lifts it", file=sys.stderr)
        return 3
    return 0
