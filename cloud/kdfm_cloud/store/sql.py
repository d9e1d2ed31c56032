"""The repository on SQLAlchemy Core: one implementation, SQLite and PostgreSQL dialects.

Uploads are written by kdfm_cloud.store.readings (batched, idempotent on the database's unique
constraint); tasks are leased: a task handed out and never reported is handed out again once
its lease has run out, so an agent that crashed half-way does not lose it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from kdfm_proto.v1 import gateway_pb2, reading_pb2
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from kdfm_cloud.store import engines, migrate, tables
from kdfm_cloud.store.readings import ReadingWriter, device_key, supply_state_name
from kdfm_cloud.store.repository import (
    DEFAULT_LEASE,
    AgentKey,
    AlertRow,
    DeviceRow,
    ReadingRow,
    StoreOutcome,
    SupplyRow,
    TaskLease,
    TaskRow,
)
from kdfm_cloud.store.trust import TrustRepository

__all__ = ["SqlRepository", "device_key", "supply_state_name"]

_FINAL_STATES = {"succeeded", "failed", "rejected"}


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
        self._writer = ReadingWriter(self._insert, engine.dialect)
        # Agents whose tenant and agent rows are known to exist (rows are never deleted), so an
        # upload does not write them again.
        self._known_agents: set[AgentKey] = set()

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
        if agent in self._known_agents:
            return
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
        self._known_agents.add(agent)  # after the commit: a rollback takes the rows along

    @staticmethod
    def _agent_is(agent: AgentKey) -> tuple[sa.ColumnElement[bool], ...]:
        return (tables.agents.c.tenant == agent.tenant,
                tables.agents.c.agent_id == agent.agent_id)

    # -- readings -------------------------------------------------------------------------

    def store_readings(self, agent: AgentKey, readings: Sequence[reading_pb2.Reading],
                       received_at: datetime) -> StoreOutcome:
        # Rows are made before BEGIN: the database is held only while it is written.
        upload = self._writer.prepare(agent, readings, received_at)
        with self._engine.begin() as conn:
            self._ensure_agent(conn, agent, received_at)
            outcome = self._writer.store(conn, upload)
        # Only after the commit: a rollback takes the rows along.
        self._writer.committed(upload)
        self._known_agents.add(agent)
        return outcome

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
        self._known_agents.add(agent)
        return queued

    def take_tasks(self, agent: AgentKey, limit: int,
                   lease: TaskLease = DEFAULT_LEASE) -> list[gateway_pb2.Task]:
        t = tables.tasks
        now = datetime.now(UTC)
        mine = (t.c.tenant == agent.tenant, t.c.agent_id == agent.agent_id)
        expired = sa.and_(t.c.state == "delivered", t.c.delivered_at < now - lease.duration)
        with self._engine.begin() as conn:
            # An agent that never reported within max_deliveries leases will not do better on
            # the next one: fail the task instead of handing it out for ever.
            conn.execute(t.update().where(*mine, expired, t.c.deliveries >= lease.max_deliveries)
                         .values(state="failed", finished_at=now,
                                 message=f"no result reported after {lease.max_deliveries} "
                                         f"deliveries ({lease.duration} each)"))
            query = (sa.select(t.c.task_id, t.c.task_pb)
                     .where(*mine, sa.or_(t.c.state == "queued", expired))
                     .order_by(t.c.created_at, t.c.task_id).limit(limit))
            if self._engine.dialect.name == "postgresql":
                # Two gateways answering polls of the same agent hand out a task once.
                query = query.with_for_update(skip_locked=True)
            rows = conn.execute(query).all()
            if rows:
                conn.execute(t.update().where(t.c.task_id.in_([r.task_id for r in rows]))
                             .values(state="delivered", delivered_at=now,
                                     deliveries=t.c.deliveries + 1))
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
        with engines.read(self._engine) as conn:
            state = conn.scalar(sa.select(tables.tasks.c.state)
                                .where(tables.tasks.c.task_id == task_id))
        return None if state is None else str(state)

    def tasks(self, tenant: str | None = None, agent_id: str | None = None,
              limit: int = 100) -> list[TaskRow]:
        t = tables.tasks
        query = sa.select(t).order_by(t.c.created_at.desc(), t.c.task_id).limit(limit)
        if tenant is not None:
            query = query.where(t.c.tenant == tenant)
        if agent_id is not None:
            query = query.where(t.c.agent_id == agent_id)
        with engines.read(self._engine) as conn:
            rows = conn.execute(query).all()
        return [TaskRow(tenant=r.tenant, agent_id=r.agent_id, task_id=r.task_id,
                        kind=gateway_pb2.Task.FromString(r.task_pb).WhichOneof("kind") or "none",
                        state=r.state, created_at=tables.utc(r.created_at),
                        delivered_at=tables.utc(r.delivered_at),
                        finished_at=tables.utc(r.finished_at),
                        deliveries=r.deliveries, message=r.message) for r in rows]

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
        self._known_agents.add(agent)
        return version

    def config_if_changed(self, agent: AgentKey,
                          known_version: int) -> gateway_pb2.AgentConfig | None:
        a = tables.agents
        with engines.read(self._engine) as conn:
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
        with engines.read(self._engine) as conn:
            rows = conn.execute(query).all()
        return [DeviceRow(tenant=r.tenant, device_id=r.id, serial_number=r.serial_number,
                          mac_address=r.mac_address, vendor=r.vendor, model=r.model,
                          address=r.address, target=r.target, agent_id=r.agent_id,
                          first_seen=tables.utc(r.first_seen), last_seen=tables.utc(r.last_seen))
                for r in rows]

    def readings(self, tenant: str | None = None, limit: int = 100) -> list[ReadingRow]:
        r, d = tables.readings, tables.devices
        query = (sa.select(r, d.c.serial_number).join(d, d.c.id == r.c.device_id)
                 .order_by(r.c.collected_at.desc(), r.c.id.desc()).limit(limit))
        if tenant is not None:
            query = query.where(r.c.tenant == tenant)
        with engines.read(self._engine) as conn:
            rows = conn.execute(query).all()
        return [ReadingRow(tenant=x.tenant, reading_id=x.reading_id, agent_id=x.agent_id,
                           device_id=x.device_id, serial_number=x.serial_number,
                           collected_at=tables.utc(x.collected_at),
                           received_at=tables.utc(x.received_at))
                for x in rows]

    def reading_body(self, tenant: str, reading_id: str) -> reading_pb2.Reading | None:
        """The stored reading as the agent sent it (None: no such reading)."""
        r = tables.readings
        with engines.read(self._engine) as conn:
            body = conn.scalar(sa.select(r.c.reading_pb).where(r.c.tenant == tenant,
                                                               r.c.reading_id == reading_id))
        return None if body is None else reading_pb2.Reading.FromString(body)

    def reading_ids(self, tenant: str | None = None) -> list[str]:
        r = tables.readings
        query = sa.select(r.c.reading_id).order_by(r.c.id)
        if tenant is not None:
            query = query.where(r.c.tenant == tenant)
        with engines.read(self._engine) as conn:
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
        with engines.read(self._engine) as conn:
            rows = conn.execute(query).all()
        return [SupplyRow(tenant=x.tenant, device_id=x.device_id, serial_number=x.serial_number,
                          model=x.model, kind=x.kind, index=x.idx, description=x.description,
                          colorant=x.colorant, part_number=x.part_number,
                          cartridge_serial=x.cartridge_serial, vendor_state=x.vendor_state,
                          state=x.state, percent=x.percent,
                          collected_at=tables.utc(x.collected_at)) for x in rows]

    def alerts(self, tenant: str | None = None) -> list[AlertRow]:
        a, r, d = tables.alerts, tables.readings, tables.devices
        query = (sa.select(a, r.c.collected_at, d.c.id.label("device_id"), d.c.tenant,
                           d.c.serial_number, d.c.model)
                 .select_from(d.join(r, r.c.id == self._latest()).join(a, a.c.reading == r.c.id))
                 .order_by(d.c.tenant, d.c.id, a.c.idx))
        if tenant is not None:
            query = query.where(d.c.tenant == tenant)
        with engines.read(self._engine) as conn:
            rows = conn.execute(query).all()
        return [AlertRow(tenant=x.tenant, device_id=x.device_id, serial_number=x.serial_number,
                         model=x.model, index=x.idx, severity=x.severity, code=x.code,
                         group=x.alert_group, description=x.description,
                         collected_at=tables.utc(x.collected_at)) for x in rows]


