"""`kdfm-cloud serve --config FILE`: run the gRPC gateway until SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import sys
from pathlib import Path
from typing import Any

from kdfm_cloud.agentbroker import AgentBroker
from kdfm_cloud.agentpki import AgentSigner
from kdfm_cloud.errors import CloudError
from kdfm_cloud.gateway.server import serve
from kdfm_cloud.gateway.workers import CONFIG_ERROR, check_workers, supervise
from kdfm_cloud.settings import CloudSettings, load_settings
from kdfm_cloud.store import open_repository


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the `serve` sub-command."""
    parser = subparsers.add_parser("serve", help="run the gRPC gateway the agents dial")
    parser.add_argument("--config", type=Path, required=True, help="YAML configuration file")
    # Given by the supervisor to the processes it starts (gateway.workers > 1).
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Serve until SIGTERM/SIGINT; exit 0 after a graceful stop, 2 on a configuration error."""
    worker = "" if args.worker is None else f" [worker {args.worker}]"
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"%(asctime)s %(levelname)s %(name)s{worker}: %(message)s")
    try:
        settings = load_settings(args.config)
        check_workers(settings.gateway)
        if settings.gateway.workers > 1 and args.worker is None:
            # Migrated once, here: workers migrating at the same time would race.
            open_repository(settings.store.database).close()
            return supervise(args.config, settings.gateway)
        if args.worker not in (None, 0):
            settings = _without_port_files(settings)
        signer = (AgentSigner.from_settings(settings.vault, settings.gateway.enroll.certificate_ttl)
                  if settings.vault.addr else None)
        broker = AgentBroker.from_settings(settings.broker_admin)
        # A worker's supervisor has migrated the database already.
        repository = open_repository(settings.store.database, migrate=args.worker is None)
    except CloudError as err:
        print(f"kdfm-cloud serve: {err}", file=sys.stderr)
        return CONFIG_ERROR
    try:
        asyncio.run(serve(settings.gateway, repository, signer=signer, broker=broker))
    except CloudError as err:
        print(f"kdfm-cloud serve: {err}", file=sys.stderr)
        return CONFIG_ERROR
    finally:
        repository.close()
    return 0


def _without_port_files(settings: CloudSettings) -> CloudSettings:
    """The settings of a worker other than the first, which alone writes the port files.

    The workers share the ports; two writers of one file could leave it half-written to a
    reader.
    """
    gateway = settings.gateway
    return dataclasses.replace(settings, gateway=dataclasses.replace(
        gateway, port_file="", enroll=dataclasses.replace(gateway.enroll, port_file="")))
