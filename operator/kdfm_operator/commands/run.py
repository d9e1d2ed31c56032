"""`kdfm-operator run`: start kopf with the KDFM handlers until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from typing import Any

LOG_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def register(subparsers: Any) -> None:
    """Add the `run` sub-command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "run", help="reconcile Tenant, VaultCertificate and Broker resources (kopf)"
    )
    parser.add_argument(
        "--namespace", default=None, help="watch one namespace (default: the whole cluster)"
    )
    parser.add_argument("--log-level", choices=sorted(LOG_LEVELS), default="info")
    parser.add_argument(
        "--liveness", default=None, help="liveness endpoint, e.g. http://0.0.0.0:8080/healthz"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the operator in the foreground; returns when kopf stops."""
    # Imported here: `kdfm-operator --help` must not pay for kopf's import.
    import kopf  # noqa: PLC0415

    from kdfm_operator.context import OperatorContext  # noqa: PLC0415
    from kdfm_operator.handlers.registry import build_registry  # noqa: PLC0415
    from kdfm_operator.settings import OperatorSettings  # noqa: PLC0415

    logging.basicConfig(
        level=LOG_LEVELS[args.log_level], format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    settings = OperatorSettings.from_env()
    if args.namespace:
        settings = dataclasses.replace(settings, namespace=args.namespace)
    ctx = OperatorContext(settings=settings)
    try:
        kopf.run(
            registry=build_registry(ctx),
            standalone=True,  # one replica, no peering objects to grant RBAC for
            clusterwide=settings.namespace is None,
            namespaces=[settings.namespace] if settings.namespace else (),
            liveness_endpoint=args.liveness,
        )
    except kopf.LoginError:
        # kopf only says it ran out of credentials; the login handler knows why.
        if ctx.login_error is None:
            raise
        print(f"kdfm-operator: {ctx.login_error}", file=sys.stderr)
        return 1
    return 0
