"""Store an upload of readings: one transaction, a fixed handful of statements per upload.

Every statement is built once and executed with a list of parameter sets (executemany), so
SQLAlchemy compiles it once per process instead of once per upload: a multi-row `.values(rows)`
statement is a new statement for every batch size and cost more CPU to compile than the rows
took to store (bench/ingest). Only the protobuf body is kept; its JSON is made on demand
(kdfm_cloud.store.readingjson), never at ingest.

Idempotence rests on the database: readings are unique per (tenant, reading_id) and inserted
with ON CONFLICT DO NOTHING, so a replay racing the original upload is still stored once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from kdfm_proto.v1 import reading_pb2

from kdfm_cloud.store import tables
from kdfm_cloud.store.repository import AgentKey, StoreOutcome

_DEVICE_ATTRIBUTES = ("serial_number", "mac_address", "vendor", "model", "agent_id", "address",
                      "target", "last_seen")
_SUPPLY_STATES = {value.number: value.name.removeprefix("SUPPLY_STATE_").lower()
                  for value in reading_pb2.SupplyState.DESCRIPTOR.values}


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
        return f"serial:{identity.serial_number.strip()}"
    if identity.HasField("mac_address") and identity.mac_address.strip():
        return f"mac:{identity.mac_address.strip().lower()}"
    return f"target:{reading.target}"


def _opt(message: Any, name: str) -> Any:
    return getattr(message, name) if message.HasField(name) else None


def device_quota_reason(tenant: str, max_devices: int) -> str:
    """What a reading of a device beyond the tenant's quota is rejected with."""
    return (f"tenant {tenant!r} has reached its limit of {max_devices} devices (max_devices); "
            "readings of further devices are refused until the limit is raised")


@dataclass(frozen=True, slots=True)
class _Prepared:
    """One reading of an upload with what is computed from it once."""

    reading: reading_pb2.Reading
    key: str
    collected_at: datetime


class ReadingWriter:
    """The statements of an upload, built once per repository (see the module docstring)."""

    def __init__(self, insert: Any) -> None:
        d, r, t = tables.devices, tables.readings, tables.tenants
        self._seen = sa.select(r.c.reading_id).where(
            r.c.tenant == sa.bindparam("tenant"),
            r.c.reading_id.in_(sa.bindparam("ids", expanding=True)))
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
        update = {name: sa.case((newer, upsert.excluded[name]), else_=d.c[name])
                  for name in _DEVICE_ATTRIBUTES}
        self._upsert_devices = upsert.on_conflict_do_update(
            index_elements=[d.c.tenant, d.c.device_key], set_=update,
        ).returning(d.c.device_key, d.c.id)
        self._insert_readings = insert(r).on_conflict_do_nothing().returning(
            r.c.reading_id, r.c.id)
        self._insert_parts = [(table, table.insert())
                              for table in (tables.supplies, tables.counters, tables.alerts)]

    def store(self, conn: sa.Connection, agent: AgentKey,
              readings: Sequence[reading_pb2.Reading], received_at: datetime) -> StoreOutcome:
        """Store the new readings of an upload on `conn` (the caller's transaction)."""
        unique: dict[str, reading_pb2.Reading] = {}
        for reading in readings:
            unique.setdefault(reading.reading_id, reading)
        seen = set(conn.scalars(self._seen, {"tenant": agent.tenant, "ids": list(unique)}))
        new = [_Prepared(r, device_key(r), r.collected_at.ToDatetime(tzinfo=UTC))
               for i, r in unique.items() if i not in seen]
        refused: dict[str, str] = {}
        if new:
            new, refused = self._within_quota(conn, agent, new)
        inserted: dict[str, int] = {}
        if new:
            devices = self._devices(conn, agent, new)
            inserted = self._readings(conn, agent, new, devices, received_at)
        stored = tuple(i for i in unique if i in inserted)
        # Everything else was there before: earlier uploads, a racing upload, or this batch.
        replayed = [r.reading_id for r in readings if r.reading_id not in refused]
        for reading_id in stored:
            replayed.remove(reading_id)
        return StoreOutcome(stored=stored, replayed=tuple(replayed),
                            refused=tuple(refused.items()))

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

    def _devices(self, conn: sa.Connection, agent: AgentKey,
                 new: Sequence[_Prepared]) -> dict[str, int]:
        """Create or update the devices of the readings; answers device_key -> id."""
        newest: dict[str, _Prepared] = {}
        first: dict[str, datetime] = {}
        for p in new:
            if p.key not in newest or p.collected_at > newest[p.key].collected_at:
                newest[p.key] = p
            first[p.key] = min(p.collected_at, first.get(p.key, p.collected_at))
        rows = []
        for key, p in newest.items():
            identity = p.reading.identity
            rows.append({
                "tenant": agent.tenant, "device_key": key, "first_seen": first[key],
                "last_seen": p.collected_at, "serial_number": _opt(identity, "serial_number"),
                "mac_address": _opt(identity, "mac_address"), "vendor": _opt(identity, "vendor"),
                "model": _opt(identity, "model"), "agent_id": agent.agent_id,
                "address": _opt(p.reading, "address"), "target": p.reading.target,
            })
        result = conn.execute(self._upsert_devices, rows)
        return {key: int(row_id) for key, row_id in result.all()}

    def _readings(self, conn: sa.Connection, agent: AgentKey, new: Sequence[_Prepared],
                  devices: dict[str, int], received_at: datetime) -> dict[str, int]:
        """Insert readings not stored yet with their parts; answers reading_id -> row id."""
        rows = [{
            "tenant": agent.tenant, "reading_id": p.reading.reading_id,
            "agent_id": agent.agent_id, "device_id": devices[p.key],
            "collected_at": p.collected_at, "received_at": received_at,
            "reading_pb": p.reading.SerializeToString(deterministic=True),
        } for p in new]
        inserted = {reading_id: int(row_id) for reading_id, row_id
                    in conn.execute(self._insert_readings, rows).all()}
        supplies: list[dict[str, Any]] = []
        counters: list[dict[str, Any]] = []
        alerts: list[dict[str, Any]] = []
        for p in new:
            row_id = inserted.get(p.reading.reading_id)
            if row_id is None:
                continue  # an upload racing this one stored it first
            reading = p.reading
            for kind, items in (("supply", reading.supplies), ("tray", reading.trays)):
                # The last of a repeated index wins, as the primary key allows one.
                supplies.extend({s.index: {
                    "reading": row_id, "kind": kind, "idx": s.index,
                    "description": _opt(s, "description"), "type": _opt(s, "type"),
                    "colorant": _opt(s, "colorant"), "unit": _opt(s, "unit"),
                    "state": supply_state_name(s.state), "percent": _opt(s, "percent"),
                    "raw_level": _opt(s, "raw_level"),
                    "raw_max_capacity": _opt(s, "raw_max_capacity")} for s in items}.values())
            counters.extend({c.name: {"reading": row_id, "name": c.name, "value": c.value,
                                      "unit": c.unit, "source": c.source}
                             for c in reading.counters}.values())
            alerts.extend({a.index: {"reading": row_id, "idx": a.index, "severity": a.severity,
                                     "code": a.code, "alert_group": _opt(a, "group"),
                                     "description": _opt(a, "description")}
                           for a in reading.alerts}.values())
        for (_table, statement), values in zip(self._insert_parts, (supplies, counters, alerts),
                                               strict=True):
            if values:
                conn.execute(statement, values)
        return inserted
