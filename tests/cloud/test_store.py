"""The repository, the same cases on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory
from kdfm_cloud.gateway.validate import rejection
from kdfm_cloud.store import (
    AgentKey,
    SqlRepository,
    migrate,
    open_repository,
    sqlite_url,
    tables,
)
from kdfm_cloud.store.engines import create_engine
from kdfm_cloud.store.readingjson import to_json
from kdfm_proto.v1 import gateway_pb2
from kdfm_proto.v1 import reading_pb2 as pb

from .conftest import MakeReading

AGENT = AgentKey("tenant-a", "agent-1")
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def test_migrations_are_idempotent_and_reach_head(repository: SqlRepository,
                                                  database_url: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(Path(migrate.__file__).with_name("migrations")))
    head = ScriptDirectory.from_config(config).get_current_head()
    again = open_repository(database_url)
    try:
        with again.engine.connect() as conn:
            version = conn.scalar(sa.text("SELECT version_num FROM alembic_version"))
        assert head is not None and version == head
    finally:
        again.close()


def test_a_replay_is_acknowledged_not_stored_twice(repository: SqlRepository,
                                                   make_reading: MakeReading) -> None:
    first, second = make_reading("r-1"), make_reading("r-2")
    outcome = repository.store_readings(AGENT, [first, second], NOW)
    assert outcome.stored == ("r-1", "r-2") and outcome.replayed == ()

    replay = repository.store_readings(AGENT, [make_reading("r-3"), first], NOW)
    assert replay.stored == ("r-3",)
    assert replay.replayed == ("r-1",)
    assert set(replay.acknowledged) == {"r-1", "r-3"}
    assert sorted(repository.reading_ids()) == ["r-1", "r-2", "r-3"]


def test_the_same_id_twice_in_one_batch_is_stored_once(repository: SqlRepository,
                                                       make_reading: MakeReading) -> None:
    outcome = repository.store_readings(AGENT, [make_reading("dup"), make_reading("dup")], NOW)
    assert outcome.stored == ("dup",) and outcome.replayed == ("dup",)
    assert repository.reading_ids() == ["dup"]


def _part_rows(repository: SqlRepository) -> dict[str, int]:
    with repository.engine.connect() as conn:
        return {table.name: int(conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0)
                for table in (tables.supplies, tables.counters, tables.alerts)}


def test_parts_of_a_replayed_reading_are_stored_once(repository: SqlRepository,
                                                     make_reading: MakeReading) -> None:
    # One reading: a toner and a tray, two counters, one alert.
    once = {"supplies": 2, "counters": 2, "alerts": 1}
    reading = make_reading("r-1")
    outcome = repository.store_readings(AGENT, [reading, reading, make_reading("r-1")], NOW)
    assert outcome.stored == ("r-1",) and outcome.replayed == ("r-1", "r-1")
    assert _part_rows(repository) == once
    # The same reading again in a later upload, and within it twice, next to a new one.
    later = repository.store_readings(AGENT, [reading, make_reading("r-2"), reading], NOW)
    assert later.stored == ("r-2",) and later.replayed == ("r-1", "r-1")
    assert _part_rows(repository) == {name: 2 * n for name, n in once.items()}


def test_a_repeated_part_index_keeps_the_last(repository: SqlRepository,
                                             make_reading: MakeReading) -> None:
    reading = make_reading("dup-parts")
    reading.supplies.add(index=1, description="Black Toner (again)", state=pb.SUPPLY_STATE_LOW)
    reading.counters.add(name="total", value=99999, unit="impressions", source="x")
    repository.store_readings(AGENT, [reading], NOW)
    with repository.engine.connect() as conn:
        supplies = conn.execute(sa.select(tables.supplies.c.description, tables.supplies.c.state,
                                          tables.supplies.c.colorant)
                                .where(tables.supplies.c.kind == "supply")).all()
        total = conn.scalar(sa.select(tables.counters.c.value)
                            .where(tables.counters.c.name == "total"))
    assert [tuple(s) for s in supplies] == [("Black Toner (again)", "low", None)]
    assert total == 99999


def test_collected_at_within_the_timestamp_range_is_stored_beyond_it_rejected(
        repository: SqlRepository, make_reading: MakeReading) -> None:
    # The gateway rejects what the store could not turn into a date, instead of failing the
    # whole upload on every retry.
    edges = {"first": (-62_135_596_800, 0), "last": (253_402_300_799, 999_999_999)}
    readings = []
    for name, (seconds, nanos) in edges.items():
        reading = make_reading(name)
        reading.collected_at.seconds, reading.collected_at.nanos = seconds, nanos
        assert rejection(reading) is None
        readings.append(reading)
    assert repository.store_readings(AGENT, readings, NOW).stored == ("first", "last")
    assert [r.collected_at.year for r in repository.readings()] == [9999, 1]
    too_late, bad_nanos = make_reading("late"), make_reading("nanos")
    too_late.collected_at.seconds = 253_402_300_800
    bad_nanos.collected_at.nanos = -1
    assert rejection(too_late) == ("collected_at is outside the years 1 to 9999 "
                                   "(seconds=253402300800)")
    assert rejection(bad_nanos) == "collected_at has nanos=-1, not 0 to 999999999"


def test_concurrent_replays_store_a_reading_once(repository: SqlRepository,
                                                 make_reading: MakeReading) -> None:
    batch = [make_reading(f"c-{i}") for i in range(20)]
    errors: list[BaseException] = []

    def upload() -> None:
        try:
            outcome = repository.store_readings(AGENT, batch, NOW)
            assert set(outcome.acknowledged) == {r.reading_id for r in batch}
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=upload) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert sorted(repository.reading_ids()) == sorted(r.reading_id for r in batch)


def test_a_printer_that_changes_ip_stays_one_device(repository: SqlRepository,
                                                    make_reading: MakeReading) -> None:
    repository.store_readings(AGENT, [make_reading("a", address="10.0.0.5", collected_at=NOW)],
                              NOW)
    later = NOW + timedelta(minutes=5)
    repository.store_readings(AGENT, [make_reading("b", address="10.0.0.99",
                                                   collected_at=later)], later)
    # An old reading replayed late must not move the device back to its old address.
    repository.store_readings(AGENT, [make_reading("c", address="10.0.0.5",
                                                   collected_at=NOW - timedelta(hours=1))], later)
    devices = repository.devices()
    assert len(devices) == 1
    assert devices[0].address == "10.0.0.99"
    assert devices[0].last_seen == later
    assert devices[0].serial_number == "SN-1"
    assert {r.device_id for r in repository.readings()} == {devices[0].device_id}


def test_a_device_moved_by_another_gateway_moves_on_here(repository: SqlRepository,
                                                        database_url: str,
                                                        make_reading: MakeReading) -> None:
    # Both repositories remember the device's id; each one's update moves it forward only.
    other = open_repository(database_url)
    try:
        repository.store_readings(AGENT, [make_reading("a", address="10.0.0.1",
                                                       collected_at=NOW)], NOW)
        later = NOW + timedelta(minutes=10)
        other.store_readings(AGENT, [make_reading("b", address="10.0.0.2",
                                                  collected_at=later)], later)
        repository.store_readings(AGENT, [make_reading("c", address="10.0.0.3",
                                                       collected_at=NOW + timedelta(minutes=5))],
                                  later)
        other.store_readings(AGENT, [make_reading("d", address="10.0.0.4",
                                                  collected_at=NOW + timedelta(minutes=20))],
                             later)
        newest = NOW + timedelta(minutes=30)
        repository.store_readings(AGENT, [make_reading("e", address="10.0.0.5",
                                                       collected_at=newest)], newest)
    finally:
        other.close()
    [device] = repository.devices()
    assert (device.address, device.last_seen, device.first_seen) == ("10.0.0.5", newest, NOW)
    assert {r.device_id for r in repository.readings()} == {device.device_id}


def test_a_remembered_device_that_is_gone_is_created_again(repository: SqlRepository,
                                                           make_reading: MakeReading) -> None:
    repository.store_readings(AGENT, [make_reading("a", serial="SN-1")], NOW)
    with repository.engine.begin() as conn:  # nothing in the product deletes devices (yet)
        for table in (tables.supplies, tables.counters, tables.alerts, tables.readings,
                      tables.devices):
            conn.execute(table.delete())
    outcome = repository.store_readings(AGENT, [make_reading("b", serial="SN-1"),
                                                make_reading("c", serial="SN-2")], NOW)
    assert outcome.stored == ("b", "c")
    devices = repository.devices()
    assert sorted(d.serial_number or "" for d in devices) == ["SN-1", "SN-2"]
    assert ({r.reading_id: r.serial_number for r in repository.readings()}
            == {"b": "SN-1", "c": "SN-2"})


def test_devices_are_keyed_by_serial_then_mac_and_per_tenant(repository: SqlRepository,
                                                            make_reading: MakeReading) -> None:
    other_tenant = AgentKey("tenant-b", "agent-9")
    repository.store_readings(AGENT, [
        make_reading("s1", serial="SN-1", mac="00:00:00:00:00:01"),
        make_reading("s2", serial="SN-1", mac="00:00:00:00:00:02"),  # new network card
        make_reading("m1", serial=None, mac="00:00:00:00:00:03", address="10.0.0.7"),
        make_reading("m2", serial=None, mac="00:00:00:00:00:03", address="10.0.0.8"),
    ], NOW)
    repository.store_readings(other_tenant, [make_reading("x1", serial="SN-1")], NOW)
    assert len(repository.devices("tenant-a")) == 2
    assert len(repository.devices("tenant-b")) == 1
    assert len(repository.devices()) == 3
    # Reading ids are the agent's: the same id in another tenant is another reading.
    repository.store_readings(other_tenant, [make_reading("s1")], NOW)
    assert sorted(repository.reading_ids("tenant-b")) == ["s1", "x1"]


def test_supplies_keep_the_typed_state_and_percent_only_when_known(
        repository: SqlRepository, make_reading: MakeReading) -> None:
    repository.store_readings(AGENT, [make_reading("old", collected_at=NOW)], NOW)
    later = NOW + timedelta(minutes=5)
    repository.store_readings(AGENT, [make_reading(
        "new", collected_at=later, toner_state=pb.SUPPLY_STATE_SOME_REMAINING,
        toner_percent=None)], later)
    rows = {(s.kind, s.index): s for s in repository.supplies("tenant-a")}
    assert set(rows) == {("supply", 1), ("tray", 1)}
    toner = rows[("supply", 1)]
    assert (toner.state, toner.percent, toner.collected_at) == ("some_remaining", None, later)
    assert toner.colorant == "black"
    # The cartridge's own details, apart from the printer's serial.
    assert (toner.part_number, toner.cartridge_serial, toner.vendor_state) == (
        "TN-2420", "C1234567", "brToner1Low=0")
    assert toner.serial_number == "SN-1"
    tray = rows[("tray", 1)]
    assert (tray.state, tray.percent) == ("unknown", None)
    assert (tray.part_number, tray.cartridge_serial, tray.vendor_state) == (None, None, None)


def test_alerts_of_the_latest_reading(repository: SqlRepository,
                                      make_reading: MakeReading) -> None:
    repository.store_readings(AGENT, [make_reading("old", collected_at=NOW, alert_code="jam")],
                              NOW)
    later = NOW + timedelta(minutes=5)
    repository.store_readings(AGENT, [make_reading("new", collected_at=later)], later)
    alerts = repository.alerts()
    assert [(a.code, a.severity, a.group) for a in alerts] == [
        ("tonerLow", "warning", "markerSupplies")]


def test_the_reading_is_kept_as_protobuf_and_read_back_as_json(
        repository: SqlRepository, make_reading: MakeReading) -> None:
    reading = make_reading("body")
    repository.store_readings(AGENT, [reading], NOW)
    with repository.engine.connect() as conn:
        counters = conn.execute(sa.select(tables.counters.c.name, tables.counters.c.value)
                                .order_by(tables.counters.c.name)).all()
    body = repository.reading_body(AGENT.tenant, "body")
    assert body == reading
    assert json.loads(to_json(body))["identity"]["serial_number"] == "SN-1"
    assert [tuple(c) for c in counters] == [("mono", 12000), ("total", 12345)]
    assert repository.reading_body("tenant-b", "body") is None


def test_tasks_are_queued_per_agent_and_handed_out_once(repository: SqlRepository) -> None:
    other = AgentKey("tenant-a", "agent-2")
    first = repository.queue_task(AGENT, gateway_pb2.Task(read_now=gateway_pb2.ReadNow()))
    second = repository.queue_task(AGENT, gateway_pb2.Task(
        diagnostics=gateway_pb2.Diagnostics(target="10.0.0.5", kind="ping")))
    repository.queue_task(other, gateway_pb2.Task(read_now=gateway_pb2.ReadNow()))

    taken = repository.take_tasks(AGENT, limit=10)
    assert [t.task_id for t in taken] == [first.task_id, second.task_id]
    assert taken[1].WhichOneof("kind") == "diagnostics"
    assert repository.take_tasks(AGENT, limit=10) == []
    assert repository.task_state(first.task_id) == "delivered"

    assert not repository.finish_task(other, first.task_id, "succeeded", "not mine")
    assert repository.finish_task(AGENT, first.task_id, "succeeded", "read 3 devices")
    assert repository.task_state(first.task_id) == "succeeded"
    assert len(repository.take_tasks(other, limit=10)) == 1


def test_configuration_versions(repository: SqlRepository) -> None:
    assert repository.config_if_changed(AGENT, 0) is None
    config = gateway_pb2.AgentConfig(targets=["10.0.0.0/24"],
                                     schedule=gateway_pb2.Schedule(read_interval_seconds=600))
    version = repository.set_config(AGENT, config)
    assert version == 1
    sent = repository.config_if_changed(AGENT, 0)
    assert sent is not None and sent.version == 1 and list(sent.targets) == ["10.0.0.0/24"]
    assert repository.config_if_changed(AGENT, 1) is None
    assert repository.set_config(AGENT, config) == 2


def test_polls_are_recorded(repository: SqlRepository) -> None:
    repository.record_poll(AGENT, "0.1.0", spooled=7)
    repository.record_poll(AGENT, "0.1.1", spooled=0)
    with repository.engine.connect() as conn:
        row = conn.execute(sa.select(tables.agents)).one()
    assert (row.tenant, row.agent_id, row.agent_version, row.spooled_readings) == (
        "tenant-a", "agent-1", "0.1.1", 0)


def test_sqlite_writers_of_one_process_take_turns(tmp_path: Path) -> None:
    # Two engines on one file (two repositories of one process) share the writer lock; a
    # transaction that fails or whose connection is closed hands it on.
    url = sqlite_url(tmp_path / "turns.db")
    first, second = create_engine(url), create_engine(url)
    table = sa.Table("t", sa.MetaData(), sa.Column("n", sa.Integer))
    try:
        with first.begin() as conn:
            table.create(conn)
        with pytest.raises(RuntimeError), first.begin() as conn:
            conn.execute(table.insert().values(n=1))
            raise RuntimeError("rolled back")
        raw = first.raw_connection()
        raw.driver_connection.begin_immediate()  # type: ignore[union-attr]
        raw.invalidate()  # closed mid-transaction
        seen: list[int] = []
        with first.begin() as conn:
            conn.execute(table.insert().values(n=2))

            def write() -> None:
                # Waits until the first transaction is committed, so it sees its row.
                with second.begin() as other:
                    seen.append(int(other.scalar(sa.select(sa.func.count()).select_from(table))
                                    or 0))
                    other.execute(table.insert().values(n=3))

            thread = threading.Thread(target=write)
            thread.start()
        thread.join(timeout=60)
        assert not thread.is_alive()
        assert seen == [1]
        with second.connect() as conn:
            assert sorted(conn.scalars(sa.select(table.c.n))) == [2, 3]
    finally:
        first.dispose()
        second.dispose()
