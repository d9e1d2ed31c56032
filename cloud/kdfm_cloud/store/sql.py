"""The repository on SQLAlchemy Core: one implementation, SQLite and PostgreSQL dialects.

Idempotence rests on the database, not on a read-then-write: readings are unique per
(tenant, reading_id) and inserted with ON CONFLICT DO NOTHING, so a replay racing the
original upload is still stored once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from google.protobuf import json_format
from kdfm_proto.v1 import gateway_pb2, reading_pb2
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from kdfm_cloud.store import migrate, tables
from kdfm_cloud.store.repository import (
    AgentKey,
    AlertRow,
    DeviceRow,
    ReadingRow,
    StoreOutcome,
    SupplyRow,
)
from kdfm_cloud.store.trust import TrustRepository

_FINAL_STATES = {"succeeded", "failed", "rejected"}
_DEVICE_ATTRIBUTES = ("serial_number", "mac_address", "vendor", "model", "agent_id", "address",
                      "target", "last_seen")


def _utc(value: datetime) -> datetime:
    # SQLite hands timestamps back naive; everything stored is UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def supply_state_name(state: int) -> str:
    """SUPPLY_STATE_SOME_REMAINING -> "some_remaining" (the agent model's spelling)."""
    return reading_pb2.SupplyState.Name(state).removeprefix("SUPPLY_STATE_").lower()


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


class SqlRepository:
    """The Repository on an SQLAlchemy engine (see kdfm_cloud.store.engines)."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        dialect = engine.dialect.name
        if dialect == "sqlite":
            self._insert: Any = sqlite_dialect.insert
        elif dialect == "postgresql":
            self._insert = pg_dialect.insert
        else:
            raise ValueError(f"database dialect {dialect!r} is not supported (sqlite, postgresql)")

    @property
    def trust(self) -> TrustRepository:
        """Tenants, activation codes, agent certificates and revocations."""
        return TrustRepository(self._engine, self._insert)

    @property
    def engine(self) -> sa.Engine:
        """The engine underneath (benchmarks compare against raw inserts on it)."""
        return self._engine

    def migrate(self) -> None:
        migrate.upgrade(self._engine)

    def close(self) -> None:
        self._engine.dispose()

    # -- agents ---------------------------------------------------------------------------

    def _ensure_agent(self, conn: sa.Connection, agent: AgentKey, now: datetime) -> None:
        conn.execute(self._insert(tables.tenants).values(tenant=agent.tenant, created_at=now)
                     .on_conflict_do_nothing())
        conn.execute(self._insert(tables.agents).values(
            tenant=agent.tenant, agent_id=agent.agent_id, config_version=0,
        ).on_conflict_do_nothing())

    def record_poll(self, agent: AgentKey, agent_version: str, spooled: int) -> None:
        now = datetime.now(UTC)
        with self._engine.begin() as conn:
            self._ensure_agent(conn, agent, now)
            conn.execute(tables.agents.update().where(*self._agent_is(agent)).values(
                agent_version=agent_version, last_poll_at=now, spooled_readings=spooled))

    @staticmethod
    def _agent_is(agent: AgentKey) -> tuple[sa.ColumnElement[bool], ...]:
        return (tables.agents.c.tenant == agent.tenant,
                tables.agents.c.agent_id == agent.agent_id)

    # -- readings -------------------------------------------------------------------------

    def store_readings(self, agent: AgentKey, readings: Sequence[reading_pb2.Reading],
                       received_at: datetime) -> StoreOutcome:
        # Set-wise per batch (one statement per table, not per reading): the ingest benchmark
        # showed per-reading statements cost ~15x the CPU of the raw inserts.
        unique: dict[str, reading_pb2.Reading] = {}
        for reading in readings:
            unique.setdefault(reading.reading_id, reading)
        with self._engine.begin() as conn:
            self._ensure_agent(conn, agent, received_at)
            seen = set(conn.scalars(sa.select(tables.readings.c.reading_id).where(
                tables.readings.c.tenant == agent.tenant,
                tables.readings.c.reading_id.in_(list(unique)))))
            new = [r for i, r in unique.items() if i not in seen]
            inserted: dict[str, int] = {}
            if new:
                devices = self._upsert_devices(conn, agent, new)
                inserted = self._insert_readings(conn, agent, new, devices, received_at)
        stored = tuple(i for i in unique if i in inserted)
        # Everything else was there before: earlier uploads, a racing upload, or this batch.
        replayed = [r.reading_id for r in readings]
        for reading_id in stored:
            replayed.remove(reading_id)
        return StoreOutcome(stored=stored, replayed=tuple(replayed))

    def _upsert_devices(self, conn: sa.Connection, agent: AgentKey,
                        readings: Sequence[reading_pb2.Reading]) -> dict[str, int]:
        """Create or update the devices of the readings; answers device_key -> id."""
        d = tables.devices
        newest: dict[str, tuple[datetime, reading_pb2.Reading]] = {}
        first: dict[str, datetime] = {}
        for reading in readings:
            key, at = device_key(reading), reading.collected_at.ToDatetime(tzinfo=UTC)
            if key not in newest or at > newest[key][0]:
                newest[key] = (at, reading)
            first[key] = min(at, first.get(key, at))
        rows = []
        for key, (at, reading) in newest.items():
            identity = reading.identity
            rows.append({
                "tenant": agent.tenant, "device_key": key, "first_seen": first[key],
                "last_seen": at, "serial_number": _opt(identity, "serial_number"),
                "mac_address": _opt(identity, "mac_address"), "vendor": _opt(identity, "vendor"),
                "model": _opt(identity, "model"), "agent_id": agent.agent_id,
                "address": _opt(reading, "address"), "target": reading.target,
            })
        statement = self._insert(d).values(rows)
        newer = statement.excluded.last_seen > d.c.last_seen
        # A replayed old reading must not move the device back to where it was.
        update = {name: sa.case((newer, statement.excluded[name]), else_=d.c[name])
                  for name in _DEVICE_ATTRIBUTES}
        statement = statement.on_conflict_do_update(
            index_elements=[d.c.tenant, d.c.device_key], set_=update,
        ).returning(d.c.device_key, d.c.id)
        return {key: int(row_id) for key, row_id in conn.execute(statement).all()}

    def _insert_readings(self, conn: sa.Connection, agent: AgentKey,
                         readings: Sequence[reading_pb2.Reading], devices: dict[str, int],
                         received_at: datetime) -> dict[str, int]:
        """Insert readings not stored yet with their parts; answers reading_id -> row id."""
        r = tables.readings
        rows = [{
            "tenant": agent.tenant, "reading_id": reading.reading_id, "agent_id": agent.agent_id,
            "device_id": devices[device_key(reading)],
            "collected_at": reading.collected_at.ToDatetime(tzinfo=UTC),
            "received_at": received_at,
            "reading_pb": reading.SerializeToString(deterministic=True),
            "reading_json": json_format.MessageToJson(reading, preserving_proto_field_name=True,
                                                      indent=None),
        } for reading in readings]
        inserted = {reading_id: int(row_id) for reading_id, row_id in conn.execute(
            self._insert(r).values(rows).on_conflict_do_nothing()
            .returning(r.c.reading_id, r.c.id)).all()}
        supplies: list[dict[str, Any]] = []
        counters: list[dict[str, Any]] = []
        alerts: list[dict[str, Any]] = []
        for reading in readings:
            row_id = inserted.get(reading.reading_id)
            if row_id is None:
                continue  # an upload racing this one stored it first
            supplies += [
                {"reading": row_id, "kind": kind, "idx": s.index,
                 "description": _opt(s, "description"), "type": _opt(s, "type"),
                 "colorant": _opt(s, "colorant"), "unit": _opt(s, "unit"),
                 "state": supply_state_name(s.state), "percent": _opt(s, "percent"),
                 "raw_level": _opt(s, "raw_level"),
                 "raw_max_capacity": _opt(s, "raw_max_capacity")}
                for kind, items in (("supply", reading.supplies), ("tray", reading.trays))
                for s in {s.index: s for s in items}.values()
            ]
            counters += {c.name: {"reading": row_id, "name": c.name, "value": c.value,
                                  "unit": c.unit, "source": c.source}
                         for c in reading.counters}.values()
            alerts += {a.index: {"reading": row_id, "idx": a.index, "severity": a.severity,
                                 "code": a.code, "alert_group": _opt(a, "group"),
                                 "description": _opt(a, "description")}
                       for a in reading.alerts}.values()
        for table, values in ((tables.supplies, supplies), (tables.counters, counters),
                              (tables.alerts, alerts)):
            if values:
                conn.execute(table.insert(), values)
        return inserted

    # -- tasks and configuration ----------------------------------------------------------

    def queue_task(self, agent: AgentKey, task: gateway_pb2.Task) -> gateway_pb2.Task:
        queued = gateway_pb2.Task()
        queued.CopyFrom(task)
        now = datetime.now(UTC)
        if not queued.task_id:
            queued.task_id = uuid.uuid4().hex
        if not queued.HasField("created_at"):
            queued.created_at.FromDatetime(now)
        with self._engine.begin() as conn:
            self._ensure_agent(conn, agent, now)
            conn.execute(tables.tasks.insert().values(
                task_id=queued.task_id, tenant=agent.tenant, agent_id=agent.agent_id,
                created_at=queued.created_at.ToDatetime(tzinfo=UTC),
                task_pb=queued.SerializeToString(), state="queued"))
        return queued

    def take_tasks(self, agent: AgentKey, limit: int) -> list[gateway_pb2.Task]:
        t = tables.tasks
        with self._engine.begin() as conn:
            rows = conn.execute(sa.select(t.c.task_id, t.c.task_pb).where(
                t.c.tenant == agent.tenant, t.c.agent_id == agent.agent_id,
                t.c.state == "queued").order_by(t.c.created_at, t.c.task_id).limit(limit)
            ).all()
            if rows:
                conn.execute(t.update().where(t.c.task_id.in_([r.task_id for r in rows]))
                             .values(state="delivered", delivered_at=datetime.now(UTC)))
        return [gateway_pb2.Task.FromString(r.task_pb) for r in rows]

    def finish_task(self, agent: AgentKey, task_id: str, outcome: str, message: str) -> bool:
        if outcome not in _FINAL_STATES:
            raise ValueError(f"task outcome {outcome!r} is not one of {sorted(_FINAL_STATES)}")
        t = tables.tasks
        with self._engine.begin() as conn:
            result = conn.execute(t.update().where(
                t.c.task_id == task_id, t.c.tenant == agent.tenant,
                t.c.agent_id == agent.agent_id,
            ).values(state=outcome, message=message, finished_at=datetime.now(UTC)))
        return bool(result.rowcount)

    def task_state(self, task_id: str) -> str | None:
        with self._engine.connect() as conn:
            state = conn.scalar(sa.select(tables.tasks.c.state)
                                .where(tables.tasks.c.task_id == task_id))
        return None if state is None else str(state)

    def set_config(self, agent: AgentKey, config: gateway_pb2.AgentConfig) -> int:
        a = tables.agents
        with self._engine.begin() as conn:
            self._ensure_agent(conn, agent, datetime.now(UTC))
            version = int(conn.scalar(sa.select(a.c.config_version)
                                      .where(*self._agent_is(agent))) or 0) + 1
            stored = gateway_pb2.AgentConfig()
            stored.CopyFrom(config)
            stored.version = version
            conn.execute(a.update().where(*self._agent_is(agent)).values(
                config_version=version, config_pb=stored.SerializeToString()))
        return version

    def config_if_changed(self, agent: AgentKey,
                          known_version: int) -> gateway_pb2.AgentConfig | None:
        a = tables.agents
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(a.c.config_version, a.c.config_pb)
                               .where(*self._agent_is(agent))).first()
        if row is None or row.config_pb is None or row.config_version == known_version:
            return None
        return gateway_pb2.AgentConfig.FromString(row.config_pb)

    # -- queries --------------------------------------------------------------------------

    def devices(self, tenant: str | None = None) -> list[DeviceRow]:
        d = tables.devices
        query = sa.select(d).order_by(d.c.tenant, d.c.id)
        if tenant is not None:
            query = query.where(d.c.tenant == tenant)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [DeviceRow(tenant=r.tenant, device_id=r.id, serial_number=r.serial_number,
                          mac_address=r.mac_address, vendor=r.vendor, model=r.model,
                          address=r.address, target=r.target, agent_id=r.agent_id,
                          first_seen=_utc(r.first_seen), last_seen=_utc(r.last_seen))
                for r in rows]

    def readings(self, tenant: str | None = None, limit: int = 100) -> list[ReadingRow]:
        r, d = tables.readings, tables.devices
        query = (sa.select(r, d.c.serial_number).join(d, d.c.id == r.c.device_id)
                 .order_by(r.c.collected_at.desc(), r.c.id.desc()).limit(limit))
        if tenant is not None:
            query = query.where(r.c.tenant == tenant)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [ReadingRow(tenant=x.tenant, reading_id=x.reading_id, agent_id=x.agent_id,
                           device_id=x.device_id, serial_number=x.serial_number,
                           collected_at=_utc(x.collected_at), received_at=_utc(x.received_at))
                for x in rows]

    def reading_ids(self, tenant: str | None = None) -> list[str]:
        r = tables.readings
        query = sa.select(r.c.reading_id).order_by(r.c.id)
        if tenant is not None:
            query = query.where(r.c.tenant == tenant)
        with self._engine.connect() as conn:
            return list(conn.scalars(query))

    def _latest(self) -> sa.ScalarSelect[Any]:
        r, d = tables.readings, tables.devices
        return (sa.select(r.c.id).where(r.c.device_id == d.c.id)
                .order_by(r.c.collected_at.desc(), r.c.id.desc()).limit(1)
                .correlate(d).scalar_subquery())

    def supplies(self, tenant: str | None = None) -> list[SupplyRow]:
        s, r, d = tables.supplies, tables.readings, tables.devices
        query = (sa.select(s, r.c.collected_at, d.c.id.label("device_id"), d.c.tenant,
                           d.c.serial_number, d.c.model)
                 .select_from(d.join(r, r.c.id == self._latest()).join(s, s.c.reading == r.c.id))
                 .order_by(d.c.tenant, d.c.id, s.c.kind, s.c.idx))
        if tenant is not None:
            query = query.where(d.c.tenant == tenant)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [SupplyRow(tenant=x.tenant, device_id=x.device_id, serial_number=x.serial_number,
                          model=x.model, kind=x.kind, index=x.idx, description=x.description,
                          colorant=x.colorant, state=x.state, percent=x.percent,
                          collected_at=_utc(x.collected_at)) for x in rows]

    def alerts(self, tenant: str | None = None) -> list[AlertRow]:
        a, r, d = tables.alerts, tables.readings, tables.devices
        query = (sa.select(a, r.c.collected_at, d.c.id.label("device_id"), d.c.tenant,
                           d.c.serial_number, d.c.model)
                 .select_from(d.join(r, r.c.id == self._latest()).join(a, a.c.reading == r.c.id))
                 .order_by(d.c.tenant, d.c.id, a.c.idx))
        if tenant is not None:
            query = query.where(d.c.tenant == tenant)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [AlertRow(tenant=x.tenant, device_id=x.device_id, serial_number=x.serial_number,
                         model=x.model, index=x.idx, severity=x.severity, code=x.code,
                         group=x.alert_group, description=x.description,
                         collected_at=_utc(x.collected_at)) for x in rows]


