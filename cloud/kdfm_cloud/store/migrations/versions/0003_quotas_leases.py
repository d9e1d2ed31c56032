"""Tenant quotas (the Tenant CRD's maxAgents / maxDevices), task deliveries (leases), and the
readings' JSON copy dropped.

readings.reading_json was a TEXT copy of reading_pb that nothing read, and producing it cost
more CPU at ingest than storing the reading (bench/ingest/RESULTS.md). reading_pb is lossless;
the JSON is made from it when somebody asks (kdfm_cloud.store.readingjson).

Revision ID: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL: no limit (tenants made before quotas existed, or by an agent's first contact).
    op.add_column("tenants", sa.Column("max_agents", sa.Integer))
    op.add_column("tenants", sa.Column("max_devices", sa.Integer))
    op.add_column("tasks", sa.Column("deliveries", sa.Integer, nullable=False,
                                     server_default=sa.text("0")))
    # Tasks handed out before this revision were delivered once.
    op.execute("UPDATE tasks SET deliveries = 1 WHERE delivered_at IS NOT NULL")
    # SQLite >= 3.35 and PostgreSQL drop a column in place (it is in no index or constraint).
    op.drop_column("readings", "reading_json")


def downgrade() -> None:
    # The JSON of readings stored meanwhile is not made up again: the column comes back empty.
    op.add_column("readings", sa.Column("reading_json", sa.Text))
    op.drop_column("tasks", "deliveries")
    op.drop_column("tenants", "max_devices")
    op.drop_column("tenants", "max_agents")
