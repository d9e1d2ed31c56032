"""The tables as SQLAlchemy Core objects, for queries. The migrations own the DDL.

Keep this in step with the newest migration under store/migrations/versions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload

import sqlalchemy as sa

metadata = sa.MetaData()


@overload
def utc(value: datetime) -> datetime: ...
@overload
def utc(value: None) -> None: ...
def utc(value: datetime | None) -> datetime | None:
    """A timestamp read from these tables, aware and in UTC (None stays None).

    SQLite hands timestamps back naive; everything stored is UTC.
    """
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

tenants = sa.Table(
    "tenants", metadata,
    sa.Column("tenant", sa.String(128), primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("region", sa.String(32)),
    sa.Column("dpa_signed_by", sa.String(256)),
    sa.Column("dpa_signed_at", sa.DateTime(timezone=True)),
    # Where the signed agreement is kept (the Tenant's documentRef); NULL when not signed.
    sa.Column("dpa_document_ref", sa.String(256)),
    # Quotas of the operator's Tenant CRD (spec.quotas); NULL: no limit.
    sa.Column("max_agents", sa.Integer),
    sa.Column("max_devices", sa.Integer),
    # Set once, when the Tenant resource was deleted; a retired tenant is never applied again.
    sa.Column("retired_at", sa.DateTime(timezone=True)),
)

agents = sa.Table(
    "agents", metadata,
    sa.Column("tenant", sa.String(128), primary_key=True),
    sa.Column("agent_id", sa.String(128), primary_key=True),
    sa.Column("agent_version", sa.String(64)),
    sa.Column("last_poll_at", sa.DateTime(timezone=True)),
    sa.Column("spooled_readings", sa.Integer),
    sa.Column("config_version", sa.BigInteger, nullable=False),
    sa.Column("config_pb", sa.LargeBinary),
    sa.Column("hostname", sa.String(256)),
    sa.Column("enrolled_at", sa.DateTime(timezone=True)),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
)

devices = sa.Table(
    "devices", metadata,
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
    sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("tenant", "device_key"),
)

readings = sa.Table(
    "readings", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tenant", sa.String(128), nullable=False),
    sa.Column("reading_id", sa.String(128), nullable=False),
    sa.Column("agent_id", sa.String(128), nullable=False),
    sa.Column("device_id", sa.Integer, sa.ForeignKey("devices.id"), nullable=False),
    sa.Column("collected_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    # The reading as received, lossless; its JSON is made from it on demand (readingjson).
    sa.Column("reading_pb", sa.LargeBinary, nullable=False),
    sa.UniqueConstraint("tenant", "reading_id"),
)

supplies = sa.Table(
    "supplies", metadata,
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
    # The cartridge in place, as the device reports it; NULL when it does not say.
    sa.Column("part_number", sa.String(128)),
    # Not "serial_number": joined with devices, it would shadow the printer's serial_number.
    sa.Column("cartridge_serial", sa.String(128)),
    # The vendor code behind a typed state (e.g. brToner1Low=1).
    sa.Column("vendor_state", sa.String(128)),
)

counters = sa.Table(
    "counters", metadata,
    sa.Column("reading", sa.Integer, sa.ForeignKey("readings.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
    sa.Column("unit", sa.String(64), nullable=False),
    sa.Column("source", sa.String(256), nullable=False),
)

alerts = sa.Table(
    "alerts", metadata,
    sa.Column("reading", sa.Integer, sa.ForeignKey("readings.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("idx", sa.Integer, primary_key=True),
    sa.Column("severity", sa.String(64), nullable=False),
    sa.Column("code", sa.String(128), nullable=False),
    sa.Column("alert_group", sa.String(128)),
    sa.Column("description", sa.String(512)),
)

tasks = sa.Table(
    "tasks", metadata,
    sa.Column("task_id", sa.String(64), primary_key=True),
    sa.Column("tenant", sa.String(128), nullable=False),
    sa.Column("agent_id", sa.String(128), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("task_pb", sa.LargeBinary, nullable=False),
    # queued -> delivered -> succeeded | failed | rejected
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("delivered_at", sa.DateTime(timezone=True)),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("message", sa.Text),
    # How often the task was handed out (a lease that ran out hands it out again).
    sa.Column("deliveries", sa.Integer, nullable=False, server_default=sa.text("0")),
)
activation_codes = sa.Table(
    "activation_codes", metadata,
    sa.Column("code_id", sa.String(32), primary_key=True),
    sa.Column("tenant", sa.String(128), nullable=False),
    sa.Column("code_hash", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("burned_at", sa.DateTime(timezone=True)),
    sa.Column("used_at", sa.DateTime(timezone=True)),
    sa.Column("agent_id", sa.String(128)),
)

enroll_sources = sa.Table(
    "enroll_sources", metadata,
    sa.Column("source", sa.String(128), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("first_failure_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=False),
)

agent_certificates = sa.Table(
    "agent_certificates", metadata,
    sa.Column("serial", sa.String(128), primary_key=True),
    sa.Column("tenant", sa.String(128), nullable=False),
    sa.Column("agent_id", sa.String(128), nullable=False),
    sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
)
sa.Index("agent_certificates_agent", agent_certificates.c.tenant, agent_certificates.c.agent_id)
sa.Index("tasks_queue", tasks.c.tenant, tasks.c.agent_id, tasks.c.state)
sa.Index("readings_device", readings.c.device_id, readings.c.collected_at)
