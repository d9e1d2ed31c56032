"""The signed agreement's document reference and a tenant's retirement; the cartridge's part
number, serial number and vendor state on each supply.

The cartridge's serial is supplies.cartridge_serial, not serial_number: the fleet queries join
supplies with devices, and a second serial_number column would shadow the printer's own.

tenants.dpa_document_ref answers an auditor's "which agreement?" (the Tenant's documentRef).
tenants.retired_at tells a retired tenant (Tenant resource deleted: codes burned, agents revoked,
agreement withdrawn, data kept) from one whose agreement is merely not signed yet.

Revision ID: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # NULL everywhere: agreements recorded before had no reference kept, no tenant was retired
    # before (a retirement only withdrew the agreement, which looks the same as never signed),
    # and readings stored before did not carry the cartridge's identity.
    op.add_column("tenants", sa.Column("dpa_document_ref", sa.String(256)))
    op.add_column("tenants", sa.Column("retired_at", _TS))
    op.add_column("supplies", sa.Column("part_number", sa.String(128)))
    op.add_column("supplies", sa.Column("cartridge_serial", sa.String(128)))
    op.add_column("supplies", sa.Column("vendor_state", sa.String(128)))


def downgrade() -> None:
    for table, column in (("supplies", "vendor_state"), ("supplies", "cartridge_serial"),
                          ("supplies", "part_number"), ("tenants", "retired_at"),
                          ("tenants", "dpa_document_ref")):
        op.drop_column(table, column)
