"""`kdfm-cloud tenant create NAME --region R [--dpa-signed-by WHO [--dpa-document-ref REF]]
[--max-agents N] [--max-devices N]`, `tenant sign-dpa NAME --by WHO [--document-ref REF]` and
`tenant show NAME`.

A tenant lives in one EU region. Until its data-processing agreement is signed it gets no
activation codes, so no agent of it can enrol. A retired tenant (its Tenant resource deleted)
is refused for good: `show` says since when, `create` and `sign-dpa` refuse it. These commands
and the gateway's TenantAdmin API (the Kubernetes operator's path) write tenants through the
same store call (`TrustRepository._put`), with the same checks.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from kdfm_cloud.commands.fleet import add_database_arguments
from kdfm_cloud.endpoints import database_url
from kdfm_cloud.errors import CloudError
from kdfm_cloud.store import open_repository
from kdfm_cloud.store.trust import TenantUsage
from kdfm_cloud.tenants import REGIONS, TenantRow


def register(subparsers: Any) -> None:
    """Add the `tenant` sub-command."""
    parser = subparsers.add_parser("tenant", help="create tenants and record their DPA")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create a tenant in an EU region")
    create.add_argument("name")
    create.add_argument("--region", required=True, choices=REGIONS,
                        help="EU region that stores and processes the tenant's data")
    create.add_argument("--dpa-signed-by", default=None,
                        help="who signed the data-processing agreement (none: not signed yet)")
    create.add_argument("--dpa-document-ref", default=None,
                        help="where the signed agreement is kept (needs --dpa-signed-by)")
    create.add_argument("--max-agents", type=int, default=None,
                        help="agents the tenant may enrol (the Tenant CRD's maxAgents; "
                             "none: no limit)")
    create.add_argument("--max-devices", type=int, default=None,
                        help="devices the tenant's agents may report (maxDevices; none: no "
                             "limit)")
    sign = actions.add_parser("sign-dpa", help="record the signed data-processing agreement")
    sign.add_argument("name")
    sign.add_argument("--by", required=True, help="who signed it")
    sign.add_argument("--document-ref", default=None,
                      help="where the signed agreement is kept (document id, archive path)")
    show = actions.add_parser("show", help="show a tenant")
    show.add_argument("name")
    for sub in (create, sign, show):
        add_database_arguments(sub)
        sub.add_argument("--json", action="store_true", help="one JSON object")
    parser.set_defaults(func=run)


def _print(row: TenantRow, usage: TenantUsage, as_json: bool) -> None:
    data = {"tenant": row.tenant, "region": row.region, "dpa_signed": row.dpa_signed,
            "dpa_signed_by": row.dpa_signed_by,
            "dpa_signed_at": row.dpa_signed_at.isoformat() if row.dpa_signed_at else None,
            "dpa_document_ref": row.dpa_document_ref,
            "max_agents": row.max_agents, "max_devices": row.max_devices,
            "agents": usage.agents, "devices": usage.devices,
            "retired_at": row.retired_at.isoformat() if row.retired_at else None}
    if as_json:
        print(json.dumps(data))
        return
    for key, value in data.items():
        print(f"{key:16} {value}")
    if row.retired_at is not None:
        print("retired: its agents and activation codes are refused for good; its devices and "
              "readings are kept. New agents need a tenant under a new name.")
    elif not row.dpa_signed:
        print("no activation codes until the DPA is signed: kdfm-cloud tenant sign-dpa "
              f"{row.tenant} --by WHO")


def run(args: argparse.Namespace) -> int:
    """Exit 0 when done, 1 when refused (exists, unknown, invalid), 2 without a database."""
    try:
        repository = open_repository(database_url(args.database, args.state_dir))
    except CloudError as err:
        print(f"kdfm-cloud tenant: {err}", file=sys.stderr)
        return 2
    try:
        trust = repository.trust
        if args.action == "create":
            row = trust.create_tenant(args.name, args.region, args.dpa_signed_by,
                                      max_agents=args.max_agents, max_devices=args.max_devices,
                                      dpa_document_ref=args.dpa_document_ref)
        elif args.action == "sign-dpa":
            row = trust.sign_dpa(args.name, args.by, document_ref=args.document_ref)
        else:
            found = trust.tenant(args.name)
            if found is None:
                print(f"kdfm-cloud tenant: no tenant {args.name!r}", file=sys.stderr)
                return 1
            row = found
        usage = trust.usage(row.tenant)
    except CloudError as err:
        print(f"kdfm-cloud tenant {args.action}: {err}", file=sys.stderr)
        return 1
    finally:
        repository.close()
    _print(row, usage, args.json)
    return 0
