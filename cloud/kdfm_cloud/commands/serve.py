"""`kdfm-cloud serve --config FILE`: run the gRPC gateway until SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

from kdfm_cloud.agentbroker import AgentBroker
from kdfm_cloud.agentpki import AgentSigner
from kdfm_cloud.errors import CloudError
from kdfm_cloud.gateway.server import serve
from kdfm_cloud.settings import load_settings
from kdfm_cloud.store import open_repository


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the `serve` sub-command."""
    parser = subparsers.add_parser("serve", help="run the gRPC gateway the agents dial")
    parser.add_argument("--config", type=Path, required=True, help="YAML configuration file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Serve until SIGTERM/SIGINT; exit 0 after a graceful stop, 2 on a configuration error."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(args.config)
        signer = (AgentSigner.from_settings(settings.vault, settings.gateway.enroll.certificate_ttl)
                  if settings.vault.addr else None)
        broker = AgentBroker.from_settings(settings.broker_admin)
        repository = open_repository(settings.store.database)
    except CloudError as err:
        print(f"kdfm-cloud serve: {err}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(settings.gateway, repository, signer=signer, broker=broker))
    except CloudError as err:
        print(f"kdfm-cloud serve: {err}", file=sys.stderr)
        return 2
    finally:
        repository.close()
    return 0
