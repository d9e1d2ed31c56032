"""`kdfm-agent run` end to end: snmpsim printer -> agent process -> gateway process -> store,
with a nudge over a real Mosquitto. Also: the running agent listens on nothing."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import psutil
import pytest
from harness.mqtt import connected_client
from harness.snmpsim import SnmpSite
from kdfm_cloud.devstack.mosquitto import Broker
from kdfm_cloud.nudge import NudgePublisher, status_topic
from kdfm_cloud.settings import MqttSettings
from kdfm_cloud.store import AgentKey, open_repository, sqlite_url
from kdfm_cloud.tasks import queue_task
from kdfm_proto.v1 import gateway_pb2

from ..cloud.kit import (
    Pki,
    free_tcp_port,
    gateway_service,
    nudge_accounts,
    wait_for,
    wait_listening,
)
from .agentkit import agent_service

pytestmark = [pytest.mark.e2e, pytest.mark.snmp, pytest.mark.mqtt]

RECORDING = "brother_mfc-l2710dw"
SERIAL = "000A5J431816"


def _ephemeral_range() -> range:
    low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    return range(int(low), int(high) + 1)


def test_agent_reads_uploads_listens_on_nothing_and_answers_a_nudge(
        tmp_path: Path, pki: Pki, snmp_site: SnmpSite, mosquitto: Broker) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    agent = AgentKey(tenant, "agent-1")
    database = sqlite_url(tmp_path / "cloud.db")
    port = free_tcp_port()
    gateway = gateway_service(pki, tmp_path / "gateway", database, port)

    with nudge_accounts(mosquitto, agent, tmp_path) as accounts:
        runner = agent_service(
            tmp_path / "agent", pki, tenant=tenant, agent_id="agent-1", gateway_port=port,
            targets=[snmp_site.endpoint()], community=RECORDING,
            mqtt=accounts.agent_mqtt(mosquitto))
        repository = open_repository(database)
        try:
            with connected_client(mosquitto, accounts.nudger_username,
                                  accounts.nudger_password) as observer:
                observer.subscribe(status_topic(agent))
                gateway.start()
                wait_listening(port)
                runner.start()

                # The first reading arrives (read at start-up, uploaded at once).
                devices = wait_for(repository.devices, 120,
                                   f"a device in the store\n{runner.log()}")
                assert [d.serial_number for d in devices] == [SERIAL]
                assert "MFC-L2710DW" in (devices[0].model or "")
                supplies = repository.supplies(tenant)
                assert supplies and all(s.state for s in supplies)

                # Outbound only: no listening socket, UDP only on ephemeral client ports.
                ephemeral = _ephemeral_range()
                connections = psutil.Process(runner.pid).net_connections(kind="inet")
                assert [c for c in connections if c.status == psutil.CONN_LISTEN] == []
                for c in connections:
                    if c.type == 2:  # SOCK_DGRAM
                        assert c.laddr.port in ephemeral, c
                assert any(c.raddr and c.raddr.port == port for c in connections)

                assert observer.next_message(timeout=60).payload == b"online"
                # Poll interval is 300 s: only the nudge can make the agent fetch this task soon.
                before = len(repository.reading_ids())
                settings = MqttSettings(host=mosquitto.host, port=mosquitto.mqtt_port,
                                        ca_file=str(mosquitto.ca_cert),
                                        username=accounts.nudger_username,
                                        password_file=str(accounts.nudger_password_file),
                                        client_id=f"{tenant}-nudger")

                async def nudge() -> tuple[str, float]:
                    async with NudgePublisher(settings) as publisher:
                        assert await publisher.wait_connected()
                        started = time.monotonic()
                        task = await queue_task(repository, publisher, agent, gateway_pb2.Task(
                            read_now=gateway_pb2.ReadNow()))
                    return task.task_id, started

                task_id, started = asyncio.run(nudge())
                wait_for(lambda: repository.task_state(task_id) != "queued", 30, "the task fetched")
                assert time.monotonic() - started < 2.0
                wait_for(lambda: repository.task_state(task_id) == "succeeded", 60,
                         f"the read-now task to succeed\n{runner.log()}")
                wait_for(lambda: len(repository.reading_ids()) > before, 60, "a second reading")

                assert runner.terminate(timeout=60) == 0
                assert observer.next_message(timeout=60).payload == b"offline"
        finally:
            runner.ensure_stopped()
            gateway.ensure_stopped()
            repository.close()
    assert gateway.process is not None and gateway.process.returncode == 0, gateway.log()
    assert "Traceback" not in runner.log(), runner.log()

