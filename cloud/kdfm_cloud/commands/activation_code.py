"""`kdfm-cloud activation-code create --tenant T [--expires 7d]`: a one-time code for one agent.

The code is printed once, alone on the last line, and stored only as its SHA-256 hash.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from kdfm_cloud import activation
from kdfm_cloud.commands.fleet import add_database_arguments
from kdfm_cloud.endpoints import database_url
from kdfm_cloud.errors import CloudError
from kdfm_cloud.store import open_repository


def register(subparsers: Any) -> None:
    """Add the `activation-code` sub-command."""
    parser = subparsers.add_parser("activation-code", help="make one-time activation codes")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="a new one-time code for an agent of a tenant")
    create.add_argument("--tenant", required=True)
    create.add_argument("--expires", default="7d",
                        help="how long the code is valid: 7d (default), 12h, 30m ...")
    add_database_arguments(create)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Exit 0 with the code on the last line; 1 when refused (no tenant, DPA); 2 no database."""
    try:
        lifetime = activation.parse_duration(args.expires)
        repository = open_repository(database_url(args.database, args.state_dir))
    except CloudError as err:
        print(f"kdfm-cloud activation-code: {err}", file=sys.stderr)
        return 2
    now = datetime.now(UTC)
    code = activation.new_code()
    try:
        repository.trust.create_code(args.tenant, code, now + lifetime, now)
    except CloudError as err:
        print(f"kdfm-cloud activation-code: {err}", file=sys.stderr)
        return 1
    finally:
        repository.close()
    print(f"one-time activation code for tenant {args.tenant}, valid until "
          f"{(now + lifetime).isoformat(timespec='seconds')} (shown once, stored hashed):")
    print(code.code)
    return 0
