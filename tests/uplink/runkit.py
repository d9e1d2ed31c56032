"""An in-process `Runner` against an in-process gateway on a free loopback port.

Both are the real thing (grpc.aio over mutual TLS, the SQL store, SNMP to snmpsim); running
them in the test's event loop lets a test stop and restart the agent between two polls and look
at every reading the gateway stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from kdfm_agent.runner import Runner, Uplink
from kdfm_agent.settings import AgentSettings, build
from kdfm_agent.uplink.grpc import ClientTls
from kdfm_cloud.gateway.server import running_gateway
from kdfm_cloud.store import AgentKey, SqlRepository, tables
from kdfm_proto.v1 import reading_pb2
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    set_cmd,
)
from pysnmp.proto.rfc1902 import Counter32

from ..cloud.kit import Pki


def agent_settings(state_dir: Path, targets: list[str], community: str,
                   **read: Any) -> AgentSettings:
    """Settings of a quick agent: short SNMP timeouts, short retry waits, polls every second."""
    return build(AgentSettings, {
        "state_dir": str(state_dir),
        "gateway": {"server_name": "localhost", "timeout_seconds": 20.0},
        "poll": {"interval_seconds": 1.0, "retry_min_seconds": 0.2, "retry_max_seconds": 1.0},
        "spool": {"flush_interval_seconds": 0.5},
        "read": {"targets": targets, "timeout_seconds": 2.0, "retries": 1,
                 "credentials": [{"name": "site", "community": community}], **read},
    })


@dataclass
class RunningAgent:
    """A Runner in a task of the test's loop; `stop()` ends it the way SIGTERM would."""

    runner: Runner
    task: asyncio.Task[None]
    stop_event: asyncio.Event = field(default_factory=asyncio.Event)

    async def stop(self) -> None:
        """Set the stop event and wait for every loop to end (re-raising what failed)."""
        self.stop_event.set()
        await asyncio.wait_for(self.task, 60)


@contextlib.asynccontextmanager
async def gateway(pki: Pki, repository: SqlRepository) -> AsyncIterator[str]:
    """The gateway on a free loopback port, polls answered with a 1 s interval; its address."""
    settings = pki.gateway_settings(poll_interval_seconds=1)
    async with running_gateway(settings, repository) as running:
        yield f"127.0.0.1:{running.port}"


@contextlib.asynccontextmanager
async def agent(pki: Pki, agent_key: AgentKey, address: str,
                settings: AgentSettings) -> AsyncIterator[RunningAgent]:
    """A running Runner, always stopped on the way out."""
    issued = pki.agent(agent_key.tenant, agent_key.agent_id)
    uplink = Uplink(agent_key.tenant, agent_key.agent_id, address,
                    ClientTls(pki.ca.cert_pem, issued.cert_pem, issued.key_pem))
    runner = Runner(settings, uplink)
    stop = asyncio.Event()
    running = RunningAgent(runner, asyncio.create_task(runner.run(stop)), stop)
    try:
        yield running
    finally:
        if not running.task.done():
            await running.stop()


def stored_readings(repository: SqlRepository, tenant: str) -> list[reading_pb2.Reading]:
    """Every reading the gateway stored for `tenant`, in the order they arrived."""
    r = tables.readings
    with repository.engine.connect() as conn:
        bodies = conn.scalars(sa.select(r.c.reading_pb).where(r.c.tenant == tenant)
                              .order_by(r.c.id)).all()
    return [reading_pb2.Reading.FromString(b) for b in bodies]


async def wait_until(condition: Callable[[], Any], seconds: float, what: str) -> Any:
    """Poll `condition` (without blocking the loop) until truthy; fail naming `what`."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")
        await asyncio.sleep(0.1)


async def set_counter(endpoint: str, community: str, oid: str, value: int) -> None:
    """A real SNMP SET of a Counter32 (pysnmp; net-snmp's snmpset cannot type one without MIBs)."""
    host, port = endpoint.rsplit(":", 1)
    engine = SnmpEngine()
    try:
        error, status, _index, _binds = await set_cmd(
            engine, CommunityData(community, mpModel=1),
            await UdpTransportTarget.create((host, int(port)), timeout=5, retries=2),
            ContextData(), ObjectType(ObjectIdentity(oid), Counter32(value)))
    finally:
        engine.close_dispatcher()
    assert error is None and not status, f"SET {oid} = {value} refused: {error or status}"
