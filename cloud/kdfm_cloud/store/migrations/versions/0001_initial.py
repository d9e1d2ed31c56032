"""Tenants, agents, devices, readings with their queryable parts, and task queues.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("tenant", sa.String(128), primary_key=True),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_table(
        "agents",
        sa.Column("tenant", sa.String(128), primary_key=True),
        sa.Column("agent_id", sa.String(128), primary_key=True),
        sa.Column("agent_version", sa.String(64)),
        sa.Column("last_poll_at", _TS),
        sa.Column("spooled_readings", sa.Integer),
        sa.Column("config_version", sa.BigInteger, nullable=False),
        sa.Column("config_pb", sa.LargeBinary),
    )
    op.create_table(
        "devices",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(128), nullable=False),
        sa.Column("device_key", sa.String(512), nullable=False),
        sa.Column("serial_number", sa.String(256)),
        sa.Column("mac_address", sa.String(32)),
        sa.Column("vendor", sa.String(256)),
        sa.Column("model", sa.String(256)),
        sa.Column("agent_id", sa.String(128), nullable=False),
        sa.Column("address", sa.String(256)),
        sa.Column("target", sa.String(256), nullable=False),
        sa.Column("first_seen", _TS, nullable=False),
        sa.Column("last_seen", _TS, nullable=False),
        sa.UniqueConstraint("tenant", "device_key"),
    )
    op.create_table(
        "readings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(128), nullable=False),
        sa.Column("reading_id", sa.String(128), nullable=False),
        sa.Column("agent_id", sa.String(128), nullable=False),
        sa.Column("device_id", sa.Integer, sa.ForeignKey("devices.id"), nullable=False),
        sa.Column("collected_at", _TS, nullable=False),
        sa.Column("received_at", _TS, nullable=False),
        sa.Column("reading_pb", sa.LargeBinary, nullable=False),
        sa.Column("reading_json", sa.Text, nullable=False),
        sa.UniqueConstraint("tenant", "reading_id"),
    )
    op.create_index("readings_device", "readings", ["device_id", "collected_at"])
    op.create_table(
        "supplies",
        sa.Column("reading", sa.Integer, sa.ForeignKey("readings.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("kind", sa.String(8), primary_key=True),
        sa.Column("idx", sa.Integer, primary_key=True),
        sa.Column("description", sa.String(512)),
        sa.Column("type", sa.String(128)),
        sa.Column("colorant", sa.String(128)),
        sa.Column("unit", sa.String(64)),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("percent", sa.Float),
        sa.Column("raw_level", sa.BigInteger),
        sa.Column("raw_max_capacity", sa.BigInteger),
    )
    op.create_table(
        "counters",
        sa.Column("reading", sa.Integer, sa.ForeignKey("readings.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
        sa.Column("unit", sa.String(64), nullable=False),
        sa.Column("source", sa.String(256), nullable=False),
    )
    op.create_table(
        "alerts",
        sa.Column("reading", sa.Integer, sa.ForeignKey("readings.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("idx", sa.Integer, primary_key=True),
        sa.Column("severity", sa.String(64), nullable=False),
        sa.Column("code", sa.String(128), nullable=False),
        sa.Column("alert_group", sa.String(128)),
        sa.Column("description", sa.String(512)),
    )
    op.create_table(
        "tasks",
        sa.Column("task_id", sa.String(64), primary_key=True),
        sa.Column("tenant", sa.String(128), nullable=False),
        sa.Column("agent_id", sa.String(128), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("task_pb", sa.LargeBinary, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("delivered_at", _TS),
        sa.Column("finished_at", _TS),
        sa.Column("message", sa.Text),
    )
    op.create_index("tasks_queue", "tasks", ["tenant", "agent_id", "state"])


def downgrade() -> None:
    for table in ("tasks", "alerts", "counters", "supplies", "readings", "devices", "agents",
                  "tenants"):
        op.drop_table(table)
