"""A string longer than its column never blocks an upload, on both back ends.

SQLite ignores a column's width; PostgreSQL refuses the whole transaction
(StringDataRightTruncation), and the agent would retry that upload forever. The projected
columns are cut to their width; the reading's protobuf body keeps every character.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from kdfm_cloud.store import AgentKey, SqlRepository, tables
from kdfm_proto.v1 import reading_pb2 as pb

from .conftest import MakeReading
from .kit import Pki
from .test_gateway import client, run_with_gateway

AGENT = AgentKey("tenant-a", "agent-1")
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
# Columns of a reading's rows that no string of the reading fills as it is, and why.
NOT_FROM_A_READING_AS_IS = {
    "devices.tenant": "the agent's certificate",
    "devices.agent_id": "the agent's certificate",
    "devices.device_key": "made from the identity, a hash when too long (test below)",
    "readings.tenant": "the agent's certificate",
    "readings.agent_id": "the agent's certificate",
    "readings.reading_id": "longer than its width is rejected (gateway/validate.py)",
    "supplies.kind": "supply or tray",
    "supplies.state": "the name of an enum value",
}
READING_TABLES = (tables.devices, tables.readings, tables.supplies, tables.counters,
                  tables.alerts)


def width(column: sa.Column[Any]) -> int:
    assert isinstance(column.type, sa.String) and column.type.length is not None
    return column.type.length


def _fill(message: Message, length: int, middle: str = "") -> None:
    """Every string field of `message` and its parts set to a distinct value of `length`."""
    for field in message.DESCRIPTOR.fields:
        repeated = field.is_repeated
        if field.type == FieldDescriptor.TYPE_STRING:
            value = f"{field.full_name}:{middle}".ljust(length, "x")
            if repeated:
                getattr(message, field.name).append(value)
            else:
                setattr(message, field.name, value)
        elif field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type is not None \
                and field.message_type.full_name != "google.protobuf.Timestamp":
            _fill(getattr(message, field.name).add() if repeated
                  else getattr(message, field.name), length, middle)


def overlong_reading(reading_id: str, length: int = 1000, middle: str = "") -> pb.Reading:
    """A reading in which every string the agent can send is `length` characters long."""
    reading = pb.Reading()
    _fill(reading, length, middle)
    reading.reading_id = reading_id  # longer is rejected before storing (validate.py)
    reading.collected_at.FromDatetime(NOW)
    return reading


def _strings(repository: SqlRepository) -> dict[str, list[str | None]]:
    """Every String column of the reading tables -> its stored values."""
    found: dict[str, list[str | None]] = {}
    with repository.engine.connect() as conn:
        for table in READING_TABLES:
            columns = [c for c in table.columns if isinstance(c.type, sa.String)]
            for row in conn.execute(sa.select(*columns)).all():
                for column, value in zip(columns, row, strict=True):
                    found.setdefault(f"{table.name}.{column.name}", []).append(value)
    return found


def test_every_string_column_written_from_a_reading_is_cut_to_its_width(
        repository: SqlRepository) -> None:
    reading = overlong_reading("all-long")
    outcome = repository.store_readings(AGENT, [reading], NOW)
    assert outcome.stored == ("all-long",)
    stored = _strings(repository)
    columns = {f"{t.name}.{c.name}": c for t in READING_TABLES for c in t.columns
               if isinstance(c.type, sa.String)}
    assert set(stored) == set(columns), "every reading table has a row"
    for name, values in stored.items():
        limit = width(columns[name])
        assert all(v is None or len(v) <= limit for v in values), name
        if name not in NOT_FROM_A_READING_AS_IS:
            # Filled from a 1000-character string and cut: a column written as is (or
            # forgotten, NULL) fails here, so a new column cannot be left out.
            assert values and all(v is not None and len(v) == limit for v in values), (
                f"{name} is not written from the reading, cut to its width {limit}")
    # Nothing is lost: the body is the reading as the agent sent it.
    assert repository.reading_body(AGENT.tenant, "all-long") == reading


def test_an_overlong_supply_description_is_stored_cut(repository: SqlRepository,
                                                      make_reading: MakeReading) -> None:
    reading = make_reading("long-description")
    reading.supplies[0].description = "Black Toner " + "x" * 600
    outcome = repository.store_readings(AGENT, [reading], NOW)
    assert outcome.acknowledged == ("long-description",)
    [toner] = [s for s in repository.supplies(AGENT.tenant) if s.kind == "supply"]
    limit = width(tables.supplies.c.description)
    assert toner.description == reading.supplies[0].description[:limit]
    assert repository.reading_body(AGENT.tenant, "long-description") == reading


def test_an_overlong_supply_description_does_not_block_an_upload_through_the_gateway(
        repository: SqlRepository, pki: Pki, make_reading: MakeReading) -> None:
    long = make_reading("long")
    long.supplies[0].description = "y" * 600
    others = [make_reading(f"ok-{i}") for i in range(2)]
    # An id cannot be cut or changed: that one reading is rejected, the rest are stored.
    bad_id = make_reading("bad\x00id")
    too_long_id = make_reading("i" * 129)

    async def body(address: str) -> None:
        async with client(address, pki) as gateway:
            response = await gateway.upload([others[0], long, bad_id, too_long_id, others[1]])
            assert sorted(response.acknowledged) == ["long", "ok-0", "ok-1"]
            assert [(r.reading_id, r.reason) for r in response.rejected] == [
                ("bad\x00id", "reading_id contains a NUL character"),
                ("i" * 129, "reading_id is longer than 128 characters")]

    run_with_gateway(repository, pki.gateway_settings(), body)
    assert sorted(repository.reading_ids(AGENT.tenant)) == ["long", "ok-0", "ok-1"]
    assert repository.reading_body(AGENT.tenant, "long") == long


def test_counters_whose_names_differ_only_past_the_width_keep_the_last(
        repository: SqlRepository, make_reading: MakeReading) -> None:
    limit = width(tables.counters.c.name)
    reading = make_reading("counters")
    reading.counters.add(name="c" * limit + "-first", value=1, unit="impressions", source="1")
    reading.counters.add(name="c" * limit + "-second", value=2, unit="impressions", source="2")
    assert repository.store_readings(AGENT, [reading], NOW).stored == ("counters",)
    with repository.engine.connect() as conn:
        rows = conn.execute(sa.select(tables.counters.c.name, tables.counters.c.value,
                                      tables.counters.c.source)
                            .order_by(tables.counters.c.name)).all()
    # The cut name is the key: one row, the last counter of that name, as for equal names.
    assert [tuple(r) for r in rows] == [
        ("c" * limit, 2, "2"), ("mono", 12000, reading.counters[1].source),
        ("total", 12345, reading.counters[0].source)]


def test_printers_whose_identity_differs_only_past_the_width_stay_two_devices(
        repository: SqlRepository, make_reading: MakeReading) -> None:
    serial_width = width(tables.devices.c.serial_number)
    one, two = ("S" * 600 + "-1"), ("S" * 600 + "-2")
    later = NOW + timedelta(minutes=5)
    repository.store_readings(AGENT, [
        make_reading("one", serial=one, address="10.0.0.1", collected_at=NOW),
        make_reading("two", serial=two, address="10.0.0.2", collected_at=NOW)], NOW)
    # Seen again, each is the device it was (through the update of known devices too).
    repository.store_readings(AGENT, [
        make_reading("one-again", serial=one, address="10.0.0.3", collected_at=later),
        make_reading("two-again", serial=two, address="10.0.0.4", collected_at=later)], later)
    devices = repository.devices(AGENT.tenant)
    assert len(devices) == 2
    assert {d.serial_number for d in devices} == {"S" * serial_width}
    assert sorted(d.address or "" for d in devices) == ["10.0.0.3", "10.0.0.4"]
    by_reading = {r.reading_id: r.device_id for r in repository.readings(AGENT.tenant)}
    assert by_reading["one"] == by_reading["one-again"] != by_reading["two"]
    assert by_reading["two"] == by_reading["two-again"]

    # No serial: the MAC, then the target name the printer; too long, they are hashed too.
    target_width = width(tables.devices.c.target)
    macs = [make_reading(f"mac-{i}", serial=None, mac="m" * 40 + str(i)) for i in range(2)]
    targets = [make_reading(f"target-{i}", serial=None, mac=None,
                            address="t" * 600 + str(i)) for i in range(2)]
    repository.store_readings(AGENT, [*macs, *targets], later)
    devices = repository.devices(AGENT.tenant)
    assert len(devices) == 6
    assert sorted(d.target for d in devices if d.target.startswith("t")) == [
        "t" * target_width] * 2
    mac_width = width(tables.devices.c.mac_address)
    assert sorted(d.mac_address or "" for d in devices if d.serial_number is None
                  and d.mac_address) == ["m" * mac_width] * 2


def test_a_nul_character_in_any_string_does_not_block_an_upload(
        repository: SqlRepository) -> None:
    # PostgreSQL refuses NUL in text whatever the width; every string of this one has one.
    reading = overlong_reading("nul", length=0, middle="\x00")
    assert repository.store_readings(AGENT, [reading], NOW).stored == ("nul",)
    stored = _strings(repository)
    assert stored["supplies.description"] == ["kdfm.v1.Supply.description:\ufffd"] * 2
    assert stored["counters.name"] == ["kdfm.v1.Counter.name:\ufffd"]
    assert stored["devices.serial_number"] == ["kdfm.v1.Identity.serial_number:\ufffd"]
    assert not any("\x00" in (v or "") for values in stored.values() for v in values)
    assert repository.reading_body(AGENT.tenant, "nul") == reading
    # The device key is made from the whole serial (hashed), so it stays the printer's own.
    again = overlong_reading("nul-again", length=0, middle="\x00")
    repository.store_readings(AGENT, [again], NOW + timedelta(minutes=1))
    assert len(repository.devices(AGENT.tenant)) == 1
