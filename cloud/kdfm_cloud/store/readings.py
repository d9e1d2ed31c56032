"""Store an upload of readings: one transaction, a fixed handful of statements per upload.

Every statement is built once and executed with a list of parameter sets (executemany), so
SQLAlchemy compiles it once per process instead of once per upload: a multi-row `.values(rows)`
statement is a new statement for every batch size and cost more CPU to compile than the rows
took to store (bench/ingest). Only the protobuf body is kept; its JSON is made on demand
(kdfm_cloud.store.readingjson), never at ingest.

Idempotence rests on the database: readings are unique per (tenant, reading_id) and inserted
with ON CONFLICT DO NOTHING, so a replay racing the original upload is still stored once.

The rows of an upload are made from the protobuf once, before the transaction (`prepare`);
readings and their parts go through SQLAlchemy Core executemany, the very technique the raw
baseline of bench/ingest uses. Devices already known to this process are moved forward with
one driver-level UPDATE executemany instead of the upsert (see ReadingWriter).
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from kdfm_proto.v1 import reading_pb2

from kdfm_cloud.store import tables
from kdfm_cloud.store.repository import AgentKey, StoreOutcome

_DEVICE_ATTRIBUTES = ("serial_number", "mac_address", "vendor", "model", "agent_id", "address",
                      "target", "last_seen")
_DEVICE_CACHE_SIZE = 200_000
"""Device ids a repository keeps in memory; past that it starts afresh (at ~150 bytes each)."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""Timestamp's zero; seconds and microseconds are added to it (ToDatetime, without its checks)."""
_SUPPLY_STATES = {value.number: value.name.removeprefix("SUPPLY_STATE_").lower()
                  for value in reading_pb2.SupplyState.DESCRIPTOR.values}


def _width(column: sa.Column[Any]) -> int:
    """The width of a String column, in characters (PostgreSQL's varchar counts characters)."""
    if not isinstance(column.type, sa.String) or column.type.length is None:
        raise TypeError(f"{column} is not a String column with a width")
    return column.type.length


# A string longer than its column is cut to the column's width when the rows are made, and
# a NUL character is shown as U+FFFD. PostgreSQL refuses both (an over-long value, any NUL in
# text) with an error that fails the whole upload, and the agent retries that upload forever;
# SQLite takes them. Nothing is lost: readings.reading_pb keeps the reading whole, exactly as
# the agent sent it. The widths come from the tables, so a migration that widens a column
# widens the cut too.
_NUL, _NUL_SHOWN = "\x00", "\ufffd"
_S_DESCRIPTION, _S_TYPE, _S_COLORANT, _S_UNIT, _S_PART, _S_SERIAL, _S_VENDOR_STATE = (
    _width(tables.supplies.c[name]) for name in (
        "description", "type", "colorant", "unit", "part_number", "cartridge_serial",
        "vendor_state"))
_C_NAME, _C_UNIT, _C_SOURCE = (_width(tables.counters.c[name])
                               for name in ("name", "unit", "source"))
_A_SEVERITY, _A_CODE, _A_GROUP, _A_DESCRIPTION = (
    _width(tables.alerts.c[name]) for name in ("severity", "code", "alert_group", "description"))
_D_SERIAL, _D_MAC, _D_VENDOR, _D_MODEL, _D_ADDRESS, _D_TARGET = (
    _width(tables.devices.c[name])
    for name in ("serial_number", "mac_address", "vendor", "model", "address", "target"))
_D_KEY = _width(tables.devices.c.device_key)


def supply_state_name(state: int) -> str:
    """SUPPLY_STATE_SOME_REMAINING -> "some_remaining" (the agent model's spelling)."""
    name = _SUPPLY_STATES.get(state)
    return name if name is not None else f"state_{state}"


def device_key(reading: reading_pb2.Reading) -> str:
    """What makes a printer the same printer: its serial; the MAC when there is no serial.

    Not the IP address: DHCP moves printers around. The serial wins over the MAC because a
    replaced network card changes the MAC of the same machine.
    """
    identity = reading.identity
    if identity.HasField("serial_number") and identity.serial_number.strip():
        return _key("serial", identity.serial_number.strip())
    if identity.HasField("mac_address") and identity.mac_address.strip():
        return _key("mac", identity.mac_address.strip().lower())
    return _key("target", reading.target)


def _key(kind: str, value: str) -> str:
    """`kind:value`; a hash of the whole value when that is longer than the key's column.

    Cutting the value instead would merge two printers whose serials differ only past the
    width. A NUL (which PostgreSQL refuses in text) is hashed too. The "-sha256" kind keeps a
    hashed key apart from any plain one.
    """
    key = f"{kind}:{value}"
    if len(key) <= _D_KEY and _NUL not in key:
        return key
    return f"{kind}-sha256:{hashlib.sha256(value.encode()).hexdigest()}"


def _cut(value: str | None, width: int) -> str | None:
    """`value` as its column takes it (see the comment above the widths)."""
    return None if value is None else value[:width].replace(_NUL, _NUL_SHOWN)


def _opt(message: Any, name: str) -> Any:
    value = getattr(message, name)
    # A value other than the default is there; only a default needs asking (HasField is dear).
    return value if value or message.HasField(name) else None


def device_quota_reason(tenant: str, max_devices: int) -> str:
    """What a reading of a device beyond the tenant's quota is rejected with."""
    return (f"tenant {tenant!r} has reached its limit of {max_devices} devices (max_devices); "
            "readings of further devices are refused until the limit is raised")


def _supply_rows(kind: str, items: Any) -> list[dict[str, Any]]:
    """The supply (or tray) rows of one reading; the reading's row id is filled in later."""
    by_index: dict[int, dict[str, Any]] = {}
    states, nul, shown = _SUPPLY_STATES, _NUL, _NUL_SHOWN
    for s in items:
        # _opt inlined: this loop is the largest part of turning an upload into rows.
        has = s.HasField
        description, type_, colorant, unit = s.description, s.type, s.colorant, s.unit
        percent, level, capacity, state = s.percent, s.raw_level, s.raw_max_capacity, s.state
        part, serial, vendor = s.part_number, s.serial_number, s.vendor_state
        # The last of a repeated index wins, as the primary key allows one. Strings are made
        # fit for their column (_cut inlined, see the comment above the widths).
        by_index[s.index] = {
            "reading": None, "kind": kind, "idx": s.index,
            "description": description[:_S_DESCRIPTION].replace(nul, shown)
            if description or has("description") else None,
            "type": type_[:_S_TYPE].replace(nul, shown) if type_ or has("type") else None,
            "colorant": colorant[:_S_COLORANT].replace(nul, shown)
            if colorant or has("colorant") else None,
            "unit": unit[:_S_UNIT].replace(nul, shown) if unit or has("unit") else None,
            "state": states[state] if state in states else supply_state_name(state),
            "percent": percent if percent or has("percent") else None,
            "raw_level": level if level or has("raw_level") else None,
            "raw_max_capacity": capacity if capacity or has("raw_max_capacity") else None,
            "part_number": part[:_S_PART].replace(nul, shown)
            if part or has("part_number") else None,
            # The cartridge's serial, not the printer's (that one is on the device row).
            "cartridge_serial": serial[:_S_SERIAL].replace(nul, shown)
            if serial or has("serial_number") else None,
            "vendor_state": vendor[:_S_VENDOR_STATE].replace(nul, shown)
            if vendor or has("vendor_state") else None}
    return list(by_index.values())


def _counter_rows(items: Any) -> list[dict[str, Any]]:
    by_name: dict[str, dict[str, Any]] = {}
    nul, shown = _NUL, _NUL_SHOWN
    for c in items:
        # Keyed by the name as stored: two names that differ only past the column's width
        # are one counter of the primary key, and the last wins as for equal names.
        name = c.name[:_C_NAME].replace(nul, shown)
        by_name[name] = {"reading": None, "name": name, "value": c.value,
                         "unit": c.unit[:_C_UNIT].replace(nul, shown),
                         "source": c.source[:_C_SOURCE].replace(nul, shown)}
    return list(by_name.values())


def _alert_rows(items: Any) -> list[dict[str, Any]]:
    by_index: dict[int, dict[str, Any]] = {}
    for a in items:
        by_index[a.index] = {
            "reading": None, "idx": a.index, "severity": _cut(a.severity, _A_SEVERITY),
            "code": _cut(a.code, _A_CODE), "alert_group": _cut(_opt(a, "group"), _A_GROUP),
            "description": _cut(_opt(a, "description"), _A_DESCRIPTION)}
    return list(by_index.values())


@dataclass(slots=True)  # not frozen: a frozen __init__ costs a microsecond per reading
class _Prepared:
    """One reading of an upload with its rows, made before the transaction begins.

    Built outside the transaction, so the database is held only while it is written. The ids
    the database assigns (device, reading) are filled into these dicts in place.
    """

    reading: reading_pb2.Reading
    key: str
    collected_at: datetime
    row: dict[str, Any]
    supplies: list[dict[str, Any]]
    counters: list[dict[str, Any]]
    alerts: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class PreparedUpload:
    """An upload turned into rows, not yet stored (see ReadingWriter.prepare)."""

    agent: AgentKey
    ids: tuple[str, ...]
    """Every reading id of the upload in order, repeats included."""
    unique: dict[str, _Prepared]
    """The first reading of each id."""
    devices: dict[str, int] = field(default_factory=dict)
    """Device rows this upload's transaction found or created (device_key -> id)."""


class ReadingWriter:
    """The statements of an upload, built once per repository (see the module docstring)."""

    def __init__(self, insert: Any, dialect: sa.Dialect) -> None:
        d, r, t = tables.devices, tables.readings, tables.tenants
        # (tenant, device_key) -> devices.id of devices committed before. Nothing deletes
        # devices, so an id stays valid; known devices get an UPDATE that moves them forward
        # only, instead of the upsert with RETURNING (most readings are of printers seen
        # before). The UPDATE runs on the driver's executemany, compiled here once: SQLAlchemy's
        # per-row parameter handling cost more than the update. Every row matches, newer or
        # not, so the row count says whether all the remembered devices still exist.
        self._device_ids: dict[tuple[str, str], int] = {}
        newer_seen = d.c.last_seen < sa.bindparam("seen")
        values = {name: sa.case((newer_seen, sa.bindparam(name)), else_=d.c[name])
                  for name in _DEVICE_ATTRIBUTES if name != "last_seen"}
        values["last_seen"] = sa.case((newer_seen, sa.bindparam("seen")), else_=d.c.last_seen)
        compiled = d.update().where(d.c.id == sa.bindparam("device_id")).values(values).compile(
            dialect=dialect)
        self._update_devices = str(compiled)
        # Positional drivers (sqlite3) take a tuple in the statement's order, others the dict.
        self._update_params: Any = (
            (lambda row: row) if compiled.positiontup is None
            else operator.itemgetter(*compiled.positiontup))
        processor = d.c.last_seen.type.dialect_impl(dialect).bind_processor(dialect)
        self._bind_datetime: Any = processor or (lambda value: value)
        self._max_devices = sa.select(t.c.max_devices).where(t.c.tenant == sa.bindparam("tenant"))
        # FOR UPDATE (PostgreSQL): two uploads of a limited tenant count its devices one after
        # the other. SQLite takes the database's write lock at BEGIN already.
        self._max_devices_locked = self._max_devices.with_for_update()
        self._device_count = sa.select(sa.func.count()).select_from(d).where(
            d.c.tenant == sa.bindparam("tenant"))
        self._known_devices = sa.select(d.c.device_key).where(
            d.c.tenant == sa.bindparam("tenant"),
            d.c.device_key.in_(sa.bindparam("keys", expanding=True)))
        upsert = insert(d)
        newer = upsert.excluded.last_seen > d.c.last_seen
        # A replayed old reading must not move the device back to where it was.
        forward = {name: sa.case((newer, upsert.excluded[name]), else_=d.c[name])
                   for name in _DEVICE_ATTRIBUTES}
        self._upsert_devices = upsert.on_conflict_do_update(
            index_elements=[d.c.tenant, d.c.device_key], set_=forward,
        ).returning(d.c.device_key, d.c.id)
        self._insert_readings = insert(r).on_conflict_do_nothing().returning(
            r.c.reading_id, r.c.id)
        self._insert_supplies = tables.supplies.insert()
        self._insert_counters = tables.counters.insert()
        self._insert_alerts = tables.alerts.insert()

    @staticmethod
    def prepare(agent: AgentKey, readings: Sequence[reading_pb2.Reading],
                received_at: datetime) -> PreparedUpload:
        """Turn an upload into rows; needs no database, so callers do it outside transactions."""
        unique: dict[str, _Prepared] = {}
        tenant, agent_id = agent.tenant, agent.agent_id
        for reading in readings:
            reading_id = reading.reading_id
            if reading_id in unique:
                continue
            stamp = reading.collected_at  # in Timestamp's range (gateway.validate)
            collected_at = _EPOCH + timedelta(seconds=stamp.seconds,
                                              microseconds=stamp.nanos // 1000)
            unique[reading_id] = _Prepared(
                reading=reading, key=device_key(reading), collected_at=collected_at,
                row={"tenant": tenant, "reading_id": reading_id, "agent_id": agent_id,
                     "device_id": None, "collected_at": collected_at,
                     "received_at": received_at,
                     "reading_pb": reading.SerializeToString(deterministic=True)},
                supplies=_supply_rows("supply", reading.supplies)
                + _supply_rows("tray", reading.trays),
                counters=_counter_rows(reading.counters),
                alerts=_alert_rows(reading.alerts))
        return PreparedUpload(agent, tuple(r.reading_id for r in readings), unique)

    def store(self, conn: sa.Connection, upload: PreparedUpload) -> StoreOutcome:
        """Store the new readings of a prepared upload on `conn` (the caller's transaction)."""
        agent, unique = upload.agent, upload.unique
        # No query for the ids stored before: the INSERT .. ON CONFLICT DO NOTHING of the
        # readings says which are new, so the common upload (all new) costs one statement
        # less. A replayed reading moves its device like any other, which changes nothing:
        # the device moves forward only, and this reading moved it when first stored.
        new = list(unique.values())
        refused: dict[str, str] = {}
        inserted: set[str] = set()
        if new:
            new, refused = self._within_quota(conn, agent, new)
        if new:
            devices = self._devices(conn, upload, new)
            inserted = self._readings(conn, new, devices)
        stored = tuple(i for i in unique if i in inserted)
        # Everything else was there before: earlier uploads, a racing upload, or this batch
        # (the first of an id stored now counts as stored, its repeats as replays).
        replayed: list[str] = []
        first = set(stored)
        for reading_id in upload.ids:
            if reading_id in first:
                first.remove(reading_id)
            elif reading_id not in refused:
                replayed.append(reading_id)
        return StoreOutcome(stored=stored, replayed=tuple(replayed),
                            refused=tuple(refused.items()))

    def committed(self, upload: PreparedUpload) -> None:
        """Remember the devices of an upload once its transaction has committed."""
        if len(self._device_ids) > _DEVICE_CACHE_SIZE:
            self._device_ids.clear()
        tenant = upload.agent.tenant
        for key, device_id in upload.devices.items():
            self._device_ids[(tenant, key)] = device_id

    def _within_quota(self, conn: sa.Connection, agent: AgentKey, new: list[_Prepared]
                      ) -> tuple[list[_Prepared], dict[str, str]]:
        """The readings the tenant's device quota allows, and the refused ones with a reason."""
        params = {"tenant": agent.tenant}
        if conn.scalar(self._max_devices, params) is None:
            return new, {}
        limit = int(conn.scalar(self._max_devices_locked, params) or 0)
        keys = list(dict.fromkeys(p.key for p in new))
        known = set(conn.scalars(self._known_devices, {**params, "keys": keys}))
        room = limit - int(conn.scalar(self._device_count, params) or 0)
        allowed = known | set([k for k in keys if k not in known][:max(room, 0)])
        reason = device_quota_reason(agent.tenant, limit)
        refused = {p.reading.reading_id: reason for p in new if p.key not in allowed}
        return [p for p in new if p.key in allowed], refused

    def _devices(self, conn: sa.Connection, upload: PreparedUpload,
                 new: Sequence[_Prepared]) -> dict[str, int]:
        """Create or update the devices of the readings; answers device_key -> id."""
        tenant, agent_id = upload.agent.tenant, upload.agent.agent_id
        newest: dict[str, _Prepared] = {}
        first: dict[str, datetime] = {}
        for p in new:
            key, at = p.key, p.collected_at
            other = newest.get(key)
            if other is None:
                newest[key], first[key] = p, at
            elif at > other.collected_at:
                newest[key] = p
            elif at < first[key]:
                first[key] = at
        ids: dict[str, int] = {}
        created: list[dict[str, Any]] = []
        known: list[dict[str, Any]] = []
        updates: list[Any] = []
        last_seen, to_params, remembered = (self._bind_datetime, self._update_params,
                                            self._device_ids)
        # In key order: two gateways (or workers) updating the same devices lock their rows
        # in the same order and so never deadlock (PostgreSQL).
        for key in sorted(newest):
            p = newest[key]
            reading, identity = p.reading, p.reading.identity
            # Cut to their columns: the device key (made from the whole values) tells two
            # printers apart, these columns only show them.
            row = {"tenant": tenant, "device_key": key, "first_seen": first[key],
                   "last_seen": p.collected_at,
                   "serial_number": _cut(_opt(identity, "serial_number"), _D_SERIAL),
                   "mac_address": _cut(_opt(identity, "mac_address"), _D_MAC),
                   "vendor": _cut(_opt(identity, "vendor"), _D_VENDOR),
                   "model": _cut(_opt(identity, "model"), _D_MODEL),
                   "agent_id": agent_id,
                   "address": _cut(_opt(reading, "address"), _D_ADDRESS),
                   "target": _cut(reading.target, _D_TARGET)}
            device_id = remembered.get((tenant, key))
            if device_id is None:
                created.append(row)
            else:
                known.append(row)
                ids[key] = device_id
                row["seen"], row["device_id"] = last_seen(p.collected_at), device_id
                updates.append(to_params(row))
        if updates:
            updated = conn.exec_driver_sql(self._update_devices, updates)
            if updated.rowcount != len(updates):
                # A remembered device is gone (nothing deletes devices today): forget them all
                # and let the upsert create what is missing.
                self._device_ids.clear()
                created.extend({name: value for name, value in row.items()
                                if name not in ("seen", "device_id")} for row in known)
        if created:
            fresh = {key: int(row_id) for key, row_id
                     in conn.execute(self._upsert_devices, created).all()}
            ids.update(fresh)
            upload.devices.update(fresh)
        return ids

    def _readings(self, conn: sa.Connection, new: Sequence[_Prepared],
                  devices: dict[str, int]) -> set[str]:
        """Insert readings not stored yet with their parts; answers the ids inserted now."""
        for p in new:
            p.row["device_id"] = devices[p.key]
        inserted = {reading_id: int(row_id) for reading_id, row_id
                    in conn.execute(self._insert_readings, [p.row for p in new]).all()}
        supplies: list[dict[str, Any]] = []
        counters: list[dict[str, Any]] = []
        alerts: list[dict[str, Any]] = []
        for p in new:
            row_id = inserted.get(p.reading.reading_id)
            if row_id is None:
                continue  # an upload racing this one stored it first
            for parts, into in ((p.supplies, supplies), (p.counters, counters),
                                (p.alerts, alerts)):
                for part in parts:
                    part["reading"] = row_id
                into.extend(parts)
        for statement, values in ((self._insert_supplies, supplies),
                                  (self._insert_counters, counters),
                                  (self._insert_alerts, alerts)):
            if values:
                conn.execute(statement, values)
        return set(inserted)
