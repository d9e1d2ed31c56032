"""`kdfm-agent enroll`: activate this agent with a one-time code from the dealer."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from kdfm_agent import enroll, identity, lockout
from kdfm_agent.errors import AgentError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("enroll", help="activate this agent with a one-time code")
    parser.add_argument("--gateway", required=True, help="HOST:PORT of the cloud gateway")
    code = parser.add_mutually_exclusive_group(required=True)
    code.add_argument("--code", help="the one-time activation code (visible to `ps`: prefer "
                                     "--code-file)")
    code.add_argument("--code-file", type=Path,
                      help="file holding the activation code, or - to read it from stdin")
    parser.add_argument("--ca-bundle", required=True, type=Path,
                        help="PEM file of the CA that signed the gateway's certificate")
    parser.add_argument("--state-dir", required=True, type=Path,
                        help="where the agent keeps its key, certificate and state")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds to wait for the gateway")
    parser.set_defaults(func=run)


def read_code(args: argparse.Namespace) -> str:
    if args.code is not None:
        return str(args.code).strip()
    if str(args.code_file) == "-":
        return sys.stdin.readline().strip()
    return str(args.code_file.read_text()).strip()


def run(args: argparse.Namespace) -> int:
    try:
        ca_bundle = args.ca_bundle.read_bytes()
    except OSError as err:
        print(f"kdfm-agent enroll: cannot read --ca-bundle: {err}", file=sys.stderr)
        return 2
    try:
        code = read_code(args)
    except OSError as err:
        print(f"kdfm-agent enroll: cannot read --code-file: {err}", file=sys.stderr)
        return 2
    if not code:
        print("kdfm-agent enroll: the activation code is empty", file=sys.stderr)
        return 2
    request = enroll.EnrollRequest(gateway=args.gateway, code=code, ca_bundle_pem=ca_bundle,
                                   state_dir=args.state_dir, timeout_seconds=args.timeout)
    try:
        record = asyncio.run(enroll.enroll(request))
    except lockout.AgentDisabledError as err:
        print(f"kdfm-agent enroll: agent is disabled: {err}", file=sys.stderr)
        return 3
    except enroll.ActivationRefusedError as err:
        print(f"kdfm-agent enroll: {err}", file=sys.stderr)
        return 3 if err.state.disabled else 1
    except (identity.IdentityError, AgentError) as err:
        print(f"kdfm-agent enroll: {err}", file=sys.stderr)
        return 1
    print(f"enrolled: agent {record.agent_id} of tenant {record.tenant} at {record.gateway}")
    return 0
