"""Discovery in the run loop: a range in `read.targets` is scanned, its printers read, the
excluded address left alone; DiscoverNow and ReadNow tasks are carried out and reported.

A small fleet of real recordings on its own loopback addresses (snmpsim, one engine per
printer), a real gateway and an in-process agent.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness.fleet import SnmpFleet, running_fleet
from kdfm_agent.devices import DeviceMemory
from kdfm_agent.spool import Spool
from kdfm_cloud.store import AgentKey, SqlRepository
from kdfm_proto.v1 import gateway_pb2

from ..cloud.kit import Pki
from .runkit import agent, agent_settings, gateway, stored_readings, wait_until

pytestmark = [pytest.mark.snmp, pytest.mark.e2e]

RECORDINGS = ("brother_mfc-9970cdw", "ricoh_aficio-mp-c3002", "sharp_mx-3570n")
FIRST = "127.81.10.1"
"""Addresses of this test's own fleet (127.81.10.1-3); .4 and .5 stay silent."""


@pytest.fixture(scope="module")
def fleet(recordings_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnmpFleet]:
    """Three printers at 127.81.10.1, .2 and .3 (community `public`)."""
    chosen = tmp_path_factory.mktemp("discovery-recordings")
    for stem in RECORDINGS:
        # Hard links: the recordings stay where they are, read-only, outside the project.
        source = recordings_dir / f"{stem}.snmprec"
        try:
            os.link(source, chosen / source.name)
        except OSError:
            (chosen / source.name).write_bytes(source.read_bytes())
    with running_fleet(chosen, first_address=FIRST,
                       work_dir=tmp_path_factory.mktemp("discovery-fleet")) as running:
        yield running


async def test_a_range_is_discovered_read_and_tasks_answered(
        tmp_path: Path, pki: Pki, fleet: SnmpFleet, sqlite_repository: SqlRepository) -> None:
    repository = sqlite_repository
    key = AgentKey(f"t-{uuid.uuid4().hex[:8]}", "agent-1")
    first, excluded, third = (d.address for d in fleet.devices)
    settings = agent_settings(tmp_path / "state", ["127.81.10.1-127.81.10.5"], fleet.community,
                              exclusions=[excluded], port=fleet.port, timeout_seconds=1.0,
                              retries=0, interval_seconds=3600.0)

    def addresses() -> list[str]:
        return [r.address for r in stored_readings(repository, key.tenant)]

    async with gateway(pki, repository) as address, agent(pki, key, address, settings):
        await wait_until(lambda: {first, third} <= set(addresses()), 120,
                         "readings of both discovered printers")
        before = len(addresses())
        discover = repository.queue_task(key, gateway_pb2.Task(
            discover_now=gateway_pb2.DiscoverNow()))
        read_one = repository.queue_task(key, gateway_pb2.Task(
            read_now=gateway_pb2.ReadNow(targets=[third])))
        read_excluded = repository.queue_task(key, gateway_pb2.Task(
            read_now=gateway_pb2.ReadNow(targets=[excluded])))
        for task in (discover, read_one, read_excluded):
            await wait_until(lambda t=task: repository.task_state(t.task_id)  # type: ignore[misc]
                             not in ("queued", "delivered"), 60, f"task {task.task_id}")
        assert repository.task_state(discover.task_id) == "succeeded"
        assert repository.task_state(read_one.task_id) == "succeeded"
        assert repository.task_state(read_excluded.task_id) == "failed"
        await wait_until(lambda: third in addresses()[before:], 60, "the ReadNow reading")

    stored = addresses()
    assert excluded not in stored
    # The ReadNow named one printer: after the first round only it was read again.
    assert set(stored[before:]) == {third}, stored
    with Spool(settings.spool_path) as spool:
        remembered = DeviceMemory(spool.connection).discovery()
    assert remembered is not None
    assert remembered.targets == (f"{first}:{fleet.port}", f"{third}:{fleet.port}")
