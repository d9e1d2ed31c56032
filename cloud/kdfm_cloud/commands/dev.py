"""`kdfm-cloud dev up|down [--state-dir DIR]`: the local stack for development and demos."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from kdfm_cloud import devup
from kdfm_cloud.devstack.errors import DevstackError
from kdfm_cloud.endpoints import DEFAULT_STATE_DIR
from kdfm_cloud.errors import CloudError


def register(subparsers: Any) -> None:
    """Add the `dev` sub-command."""
    parser = subparsers.add_parser("dev", help="start or stop the local stack (OpenBao, "
                                               "Mosquitto, gateway)")
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR,
                        help=f"where the stack keeps its state (default {DEFAULT_STATE_DIR})")
    parser.add_argument("--json", action="store_true", help="print the endpoints as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Exit 0 when done, 1 when start-up failed (everything started is stopped again)."""
    if args.action == "down":
        stopped = devup.down(args.state_dir)
        print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
        return 0
    try:
        endpoints = devup.up(args.state_dir)
    except (DevstackError, CloudError, OSError) as err:
        print(f"kdfm-cloud dev up: {err}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(endpoints, indent=2))
    else:
        for name, where in endpoints.items():
            print(f"{name:10} {where}")
        print(f"stop with: kdfm-cloud dev down --state-dir {args.state_dir}")
    return 0
