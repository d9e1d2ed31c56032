"""`kdfm-cloud fleet devices|readings|supplies|alerts`: what the store holds, for people and
scripts (a table on a terminal, JSON with --json)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from kdfm_cloud import fleet
from kdfm_cloud.endpoints import DEFAULT_STATE_DIR, database_url
from kdfm_cloud.errors import CloudError
from kdfm_cloud.store import open_repository


def add_database_arguments(parser: argparse.ArgumentParser) -> None:
    """--database URL, or --state-dir DIR of a `kdfm-cloud dev up` stack (the default)."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--state-dir", type=Path, default=None,
                       help=f"the local stack's directory (default {DEFAULT_STATE_DIR})")
    where.add_argument("--database", help="database URL: sqlite:///PATH or postgresql://...")


def register(subparsers: Any) -> None:
    """Add the `fleet` sub-command."""
    parser = subparsers.add_parser("fleet", help="show devices, readings, supplies or alerts")
    parser.add_argument("kind", choices=fleet.KINDS)
    parser.add_argument("--tenant", help="only this tenant")
    parser.add_argument("--limit", type=int, default=100, help="readings shown (100)")
    parser.add_argument("--json", action="store_true", help="a JSON array instead of a table")
    add_database_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the rows; exit 2 when the database cannot be found or opened."""
    try:
        repository = open_repository(database_url(args.database, args.state_dir))
    except CloudError as err:
        print(f"kdfm-cloud fleet: {err}", file=sys.stderr)
        return 2
    try:
        items = fleet.rows(repository, args.kind, args.tenant, args.limit)
    finally:
        repository.close()
    if args.json:
        print(json.dumps(fleet.as_json(items), indent=2))
    else:
        print(fleet.as_table(args.kind, items))
    return 0
