"""`kdfm-cloud agent revoke AGENT [--tenant T]`: refuse an agent everywhere, at once.

Order matters: the store first (the gateway checks it on every call, so gRPC refuses the agent
from the next call on), then Vault (its certificates go on the CRL), then the broker (the
agent's account is deleted, which disconnects it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from kdfm_cloud.agentbroker import AgentBroker
from kdfm_cloud.agentpki import AgentSigner
from kdfm_cloud.endpoints import DEFAULT_STATE_DIR
from kdfm_cloud.errors import CloudError
from kdfm_cloud.stackconfig import load_stack_settings
from kdfm_cloud.store import open_repository


def register(subparsers: Any) -> None:
    """Add the `agent` sub-command."""
    parser = subparsers.add_parser("agent", help="manage enrolled agents")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    revoke = actions.add_parser("revoke", help="revoke an agent's certificates and broker account")
    revoke.add_argument("agent_id", metavar="AGENT")
    revoke.add_argument("--tenant", default=None, help="the agent's tenant (when ids repeat)")
    where = revoke.add_mutually_exclusive_group()
    where.add_argument("--state-dir", type=Path, default=None,
                       help=f"the local stack's directory (default {DEFAULT_STATE_DIR})")
    where.add_argument("--config", type=Path, default=None,
                       help="the gateway's YAML configuration (store, vault, broker_admin)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Exit 0 when revoked everywhere, 1 when a step failed (the store's revocation stands)."""
    try:
        settings = load_stack_settings(args.config, args.state_dir)
        repository = open_repository(settings.store.database)
    except CloudError as err:
        print(f"kdfm-cloud agent revoke: {err}", file=sys.stderr)
        return 2
    try:
        agent = repository.trust.find_agent(args.agent_id, args.tenant)
        serials = repository.trust.revoke(agent)
    except CloudError as err:
        print(f"kdfm-cloud agent revoke: {err}", file=sys.stderr)
        return 1
    finally:
        repository.close()
    print(f"agent {agent.agent_id} of tenant {agent.tenant}: revoked in the store "
          f"({len(serials)} certificate(s)); the gateway refuses it from now on")
    failed = False
    try:
        if settings.vault.addr:
            signer = AgentSigner.from_settings(settings.vault, settings.gateway.enroll
                                               .certificate_ttl)
            for serial in serials:
                signer.revoke_now(serial)
            print(f"revoked in Vault: {', '.join(serials) or 'no certificates'}")
        broker = AgentBroker.from_settings(settings.broker_admin)
        if broker is not None:
            broker.remove_now(agent)
            print("broker account deleted: the agent is disconnected")
    except CloudError as err:
        print(f"kdfm-cloud agent revoke: {err}", file=sys.stderr)
        failed = True
    return 1 if failed else 0
