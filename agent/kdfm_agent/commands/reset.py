"""`kdfm-agent reset`: re-provision: forget the identity and lift the lockout."""

from __future__ import annotations

import argparse
from pathlib import Path

from kdfm_agent import identity, lockout


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "reset", help="re-provision: remove key, certificate and lockout (enroll again afterwards)")
    parser.add_argument("--state-dir", required=True, type=Path,
                        help="where the agent keeps its key, certificate and state")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    identity.remove_identity(args.state_dir)
    lockout.clear(args.state_dir)
    print(f"reset: {args.state_dir} holds no identity and no lockout; enroll with a new code")
    return 0
