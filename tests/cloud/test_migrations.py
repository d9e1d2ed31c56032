"""Schema migrations on a database that holds data, SQLite and PostgreSQL: a store at 0003 with a
tenant, an agent, a device, a reading with its parts, a task and an activation code upgrades to
0004 with every row kept, and downgrades again. And tables.py says what the migrations made.

The 0003 rows are written with table shapes frozen here (as the migrations are), not with
tables.py, which describes the newest schema only.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from kdfm_cloud.store import migrate, open_repository, tables
from kdfm_cloud.store.engines import create_engine
from kdfm_proto.v1 import reading_pb2 as pb

from .kit import build_reading

NOW = datetime(2026, 9, 1, 10, 0, tzinfo=UTC)
SIGNED = datetime(2026, 3, 2, 9, 15, tzinfo=UTC)
_TS = sa.DateTime(timezone=True)

# The tables as revision 0003 left them (the columns these rows fill).
_tenants = sa.table("tenants", sa.column("tenant"), sa.column("created_at", _TS),
                    sa.column("region"), sa.column("dpa_signed_by"),
                    sa.column("dpa_signed_at", _TS), sa.column("max_agents"),
                    sa.column("max_devices"))
_agents = sa.table("agents", sa.column("tenant"), sa.column("agent_id"),
                   sa.column("config_version"), sa.column("hostname"),
                   sa.column("enrolled_at", _TS))
_devices = sa.table("devices", sa.column("id"), sa.column("tenant"), sa.column("device_key"),
                    sa.column("serial_number"), sa.column("vendor"), sa.column("model"),
                    sa.column("agent_id"), sa.column("target"), sa.column("first_seen", _TS),
                    sa.column("last_seen", _TS))
_readings = sa.table("readings", sa.column("id"), sa.column("tenant"), sa.column("reading_id"),
                     sa.column("agent_id"), sa.column("device_id"),
                     sa.column("collected_at", _TS), sa.column("received_at", _TS),
                     sa.column("reading_pb", sa.LargeBinary))
_supplies = sa.table("supplies", sa.column("reading"), sa.column("kind"), sa.column("idx"),
                     sa.column("description"), sa.column("colorant"), sa.column("state"),
                     sa.column("percent"), sa.column("raw_level"),
                     sa.column("raw_max_capacity"))
_counters = sa.table("counters", sa.column("reading"), sa.column("name"), sa.column("value"),
                     sa.column("unit"), sa.column("source"))
_alerts = sa.table("alerts", sa.column("reading"), sa.column("idx"), sa.column("severity"),
                   sa.column("code"))
_tasks = sa.table("tasks", sa.column("task_id"), sa.column("tenant"), sa.column("agent_id"),
                  sa.column("created_at", _TS), sa.column("task_pb", sa.LargeBinary),
                  sa.column("state"), sa.column("deliveries"))
_codes = sa.table("activation_codes", sa.column("code_id"), sa.column("tenant"),
                  sa.column("code_hash"), sa.column("created_at", _TS),
                  sa.column("expires_at", _TS), sa.column("failures"))

_NEW_COLUMNS = {"tenants": {"dpa_document_ref", "retired_at"},
                "supplies": {"part_number", "cartridge_serial", "vendor_state"}}


def _alembic(connection: sa.Connection) -> Config:
    config = Config()
    config.set_main_option("script_location",
                           str(Path(migrate.__file__).with_name("migrations")))
    config.attributes["connection"] = connection
    return config


def _version(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        version = conn.scalar(sa.text("SELECT version_num FROM alembic_version"))
    return None if version is None else str(version)


def _columns(engine: sa.Engine, table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(engine).get_columns(table)}


def _fill_0003(engine: sa.Engine) -> bytes:
    """One tenant's worth of rows at revision 0003; answers the stored reading's bytes."""
    reading = build_reading("r-old", serial="SN-OLD", collected_at=NOW,
                            toner_state=pb.SUPPLY_STATE_LOW, toner_percent=9.0)
    blob = reading.SerializeToString()
    with engine.begin() as conn:
        conn.execute(_tenants.insert().values(
            tenant="acme", created_at=NOW, region="eu-central", dpa_signed_by="Erika",
            dpa_signed_at=SIGNED, max_agents=3, max_devices=None))
        conn.execute(_agents.insert().values(tenant="acme", agent_id="agent-1",
                                             config_version=2, hostname="site-1",
                                             enrolled_at=NOW))
        conn.execute(_devices.insert().values(
            id=7, tenant="acme", device_key="serial:SN-OLD", serial_number="SN-OLD",
            vendor="Brother", model="MFC-L2710DW", agent_id="agent-1", target="10.0.0.5",
            first_seen=NOW, last_seen=NOW))
        conn.execute(_readings.insert().values(
            id=11, tenant="acme", reading_id="r-old", agent_id="agent-1", device_id=7,
            collected_at=NOW, received_at=NOW, reading_pb=blob))
        conn.execute(_supplies.insert().values(
            reading=11, kind="supply", idx=1, description="Black Toner", colorant="black",
            state="low", percent=9.0, raw_level=9, raw_max_capacity=100))
        conn.execute(_counters.insert().values(reading=11, name="total", value=12345,
                                               unit="impressions", source="1.3.6.1"))
        conn.execute(_alerts.insert().values(reading=11, idx=1, severity="warning",
                                             code="tonerLow"))
        conn.execute(_tasks.insert().values(task_id="t-1", tenant="acme", agent_id="agent-1",
                                            created_at=NOW, task_pb=b"\x08\x01",
                                            state="queued", deliveries=0))
        conn.execute(_codes.insert().values(code_id="C0DE0001", tenant="acme",
                                            code_hash="0" * 64, created_at=NOW,
                                            expires_at=NOW + timedelta(days=7), failures=1))
    return blob


def _counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {name: int(conn.scalar(sa.text(f"SELECT count(*) FROM {name}")) or 0)
                for name in ("tenants", "agents", "devices", "readings", "supplies", "counters",
                             "alerts", "tasks", "activation_codes")}


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    made = create_engine(database_url)
    try:
        yield made
    finally:
        made.dispose()


def test_a_0003_database_with_data_upgrades_to_0004_and_back(engine: sa.Engine,
                                                            database_url: str) -> None:
    migrate.upgrade(engine, "0003")
    assert _version(engine) == "0003"
    assert not _NEW_COLUMNS["tenants"] & _columns(engine, "tenants")
    blob = _fill_0003(engine)
    counts = _counts(engine)
    assert set(counts.values()) == {1}

    migrate.upgrade(engine)
    assert _version(engine) == "0004"
    for table, new in _NEW_COLUMNS.items():
        assert new <= _columns(engine, table)
    assert _counts(engine) == counts

    # The application sees the old rows as they were, the new columns empty.
    repository = open_repository(database_url)
    try:
        tenant = repository.trust.tenant("acme")
        assert tenant is not None
        assert (tenant.region, tenant.dpa_signed_by, tenant.dpa_signed_at, tenant.max_agents) == (
            "eu-central", "Erika", SIGNED, 3)
        assert tenant.dpa_signed and tenant.dpa_document_ref is None and tenant.retired_at is None
        [reading] = repository.readings("acme")
        assert reading.reading_id == "r-old" and reading.collected_at == NOW
        [toner] = [s for s in repository.supplies("acme") if s.kind == "supply"]
        assert (toner.serial_number, toner.state, toner.percent) == ("SN-OLD", "low", 9.0)
        with repository.engine.connect() as conn:
            stored = conn.scalar(sa.select(tables.readings.c.reading_pb))
            cartridge = conn.execute(sa.select(
                tables.supplies.c.part_number, tables.supplies.c.cartridge_serial,
                tables.supplies.c.vendor_state)).one()
        assert stored == blob and tuple(cartridge) == (None, None, None)

        # The new columns take what they are for.
        trust = repository.trust
        assert trust.sign_dpa("acme", "Jane", document_ref="DPA-9").dpa_document_ref == "DPA-9"
        assert trust.retire_tenant("acme").tenant.retired_at is not None
        assert [r.tenant for r in repository.readings("acme")] == ["acme"]  # data kept
        with repository.engine.begin() as conn:
            conn.execute(tables.supplies.update().values(
                part_number="TN-2420", cartridge_serial="C1234567", vendor_state="brToner1Low=1"))
        # The cartridge's serial does not hide the printer's in the fleet's join.
        assert {s.serial_number for s in repository.supplies("acme")} == {"SN-OLD"}
    finally:
        repository.close()

    # Down again: the columns go, every row stays.
    with engine.begin() as conn:
        command.downgrade(_alembic(conn), "0003")
    assert _version(engine) == "0003"
    for table, new in _NEW_COLUMNS.items():
        assert not new & _columns(engine, table)
    assert _counts(engine) == counts
    migrate.upgrade(engine)
    assert _version(engine) == "0004"


def test_tables_py_describes_the_migrated_schema(engine: sa.Engine) -> None:
    migrate.upgrade(engine)
    inspector = sa.inspect(engine)
    migrated = set(inspector.get_table_names()) - {"alembic_version"}
    assert migrated == set(tables.metadata.tables)
    for name, table in tables.metadata.tables.items():
        columns = {c["name"]: c for c in inspector.get_columns(name)}
        assert set(columns) == {c.name for c in table.columns}, name
        for column in table.columns:
            assert columns[column.name]["nullable"] == column.nullable, f"{name}.{column.name}"

