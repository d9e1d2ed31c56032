"""Faults on purpose, on SQLite and PostgreSQL: afterwards every reading the agent produced is
stored exactly once (ids compared, not only counts), or still waits in the agent's spool.

Real processes throughout: snmpsim printer -> `kdfm-agent run` -> `kdfm-cloud serve` -> database.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from harness.snmpsim import SnmpSite
from kdfm_cloud.store import SqlRepository

from ..cloud.kit import Pki, Service, free_tcp_port, gateway_service, wait_for, wait_listening
from .agentkit import agent_service, spool_ids, spooled_ids, spooling_ids

pytestmark = [pytest.mark.faults, pytest.mark.e2e, pytest.mark.snmp]

RECORDING = "brother_mfc-l2710dw"
TIMEOUT = 180.0


@dataclass
class World:
    tenant: str
    port: int
    gateway: Service
    agent: Service
    agent_dir: Path
    repository: SqlRepository

    def produced(self) -> list[str]:
        return spooled_ids(self.agent.log())

    def stored(self) -> list[str]:
        return self.repository.reading_ids(self.tenant)

    def wait_spooled(self, count: int) -> list[str]:
        return list(wait_for(lambda: len(self.produced()) >= count and self.produced(), TIMEOUT,
                             f"{count} readings spooled\n{self.agent.log()[-3000:]}"))

    def wait_stored(self, ids: list[str]) -> None:
        wait_for(lambda: set(ids) <= set(self.stored()), TIMEOUT,
                 f"{len(ids)} readings stored\nAGENT\n{self.agent.log()[-3000:]}\n"
                 f"GATEWAY\n{self.gateway.log()[-3000:]}")

    def start_gateway(self) -> None:
        self.gateway.start()
        wait_listening(self.port)

    def assert_exactly_once(self) -> None:
        assert not self.agent.alive()
        produced, stored = self.produced(), self.stored()
        # A kill between "spooling" and "spooled" leaves a reading that may or may not exist.
        maybe = spooling_ids(self.agent.log())
        waiting = spool_ids(self.agent_dir)
        assert len(produced) == len(set(produced)), "the agent made a reading id twice"
        assert len(stored) == len(set(stored)), "a reading was stored twice"
        assert set(stored) <= set(maybe), "a reading was stored that the agent never made"
        assert set(produced) - set(stored) <= set(waiting), "a reading was lost"
        assert len(stored) >= 10


@pytest.fixture
def world(tmp_path: Path, pki: Pki, snmp_site: SnmpSite, repository: SqlRepository,
          database_url: str) -> Iterator[World]:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    port = free_tcp_port()
    gateway = gateway_service(pki, tmp_path / "gateway", database_url, port,
                              poll_interval_seconds=1)
    agent_dir = tmp_path / "agent"
    agent = agent_service(agent_dir, pki, tenant=tenant, agent_id="agent-1", gateway_port=port,
                          targets=[snmp_site.endpoint()], community=RECORDING,
                          read_interval=0.2, batch=2)
    try:
        yield World(tenant, port, gateway, agent, agent_dir, repository)
    finally:
        agent.ensure_stopped()
        gateway.ensure_stopped()


def test_gateway_down_for_several_poll_cycles(world: World) -> None:
    world.agent.start()
    wait_for(lambda: world.agent.log().count("poll failed") >= 3, TIMEOUT,
             f"three failed polls\n{world.agent.log()[-3000:]}")
    before = world.wait_spooled(10)
    world.start_gateway()
    world.wait_stored(before)
    assert world.agent.terminate() == 0
    world.assert_exactly_once()


def test_agent_killed_mid_upload(world: World) -> None:
    world.agent.start()
    backlog = world.wait_spooled(24)  # the gateway is down: a backlog builds up
    world.start_gateway()
    # Batches of 2 go out one after another; kill while they do.
    wait_for(lambda: len(world.stored()) >= 2, TIMEOUT, "the first batches stored")
    world.agent.kill()
    assert len(world.stored()) < len(world.produced()), "the upload had already finished"
    world.agent.start()
    world.wait_stored(backlog)
    world.agent.kill()  # and once more at a random moment of steady state
    world.agent.start()
    produced = world.wait_spooled(len(world.produced()) + 2)
    world.wait_stored(produced)
    assert world.agent.terminate() == 0
    world.assert_exactly_once()


def test_gateway_killed_mid_transaction(world: World) -> None:
    world.agent.start()
    backlog = world.wait_spooled(16)
    for _ in range(3):
        world.start_gateway()
        stored_before = len(world.stored())

        def progress(before: int = stored_before) -> bool:
            return len(world.stored()) > before

        wait_for(progress, TIMEOUT, "uploads going on")
        world.gateway.kill()
    world.start_gateway()
    world.wait_stored(backlog)
    assert world.agent.terminate() == 0
    assert world.gateway.terminate() == 0
    world.assert_exactly_once()
