"""The broker goes away (its process frozen with SIGSTOP: sockets stay open, nothing answers,
as in a network partition) while the agent runs: readings keep flowing over gRPC, the agent
reconnects with backoff once the broker is back, and nudges work again."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from harness.snmpsim import SnmpSite
from kdfm_cloud.devstack.mosquitto import Broker, running_broker
from kdfm_cloud.nudge import NUDGER_PUBLISH, NudgePublisher, agent_acl
from kdfm_cloud.settings import MqttSettings
from kdfm_cloud.store import AgentKey, SqlRepository, open_repository, sqlite_url
from kdfm_cloud.tasks import queue_task
from kdfm_proto.v1 import gateway_pb2

from ..cloud.kit import Pki, free_tcp_port, gateway_service, wait_for, wait_listening
from .agentkit import agent_service, spool_ids, spooled_ids

pytestmark = [pytest.mark.faults, pytest.mark.e2e, pytest.mark.mqtt, pytest.mark.snmp]

RECORDING = "brother_mfc-l2710dw"
TIMEOUT = 120.0


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[tuple[Broker, psutil.Process]]:
    """A broker of this test alone (it gets frozen), and its process."""
    work = tmp_path / "mosquitto"
    with running_broker(work_dir=work) as broker:
        [process] = [p for p in psutil.Process().children()
                     if p.name() == "mosquitto" and str(work) in " ".join(p.cmdline())]
        try:
            yield broker, process
        finally:
            if process.is_running():
                os.kill(process.pid, signal.SIGCONT)


def test_broker_down_then_back(tmp_path: Path, pki: Pki, snmp_site: SnmpSite,
                               own_broker: tuple[Broker, psutil.Process]) -> None:
    broker, broker_process = own_broker
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    agent = AgentKey(tenant, "agent-1")
    publish, subscribe = agent_acl(agent)
    broker.add_client("agent-1", "agent-password", publish=publish, subscribe=subscribe)
    nudger_password = secrets.token_urlsafe(16)
    broker.add_client("nudger", nudger_password, publish=[NUDGER_PUBLISH])
    (tmp_path / "agent.pw").write_text("agent-password")
    (tmp_path / "nudger.pw").write_text(nudger_password)

    database = sqlite_url(tmp_path / "cloud.db")
    port = free_tcp_port()
    gateway = gateway_service(pki, tmp_path / "gateway", database, port)
    runner = agent_service(
        tmp_path / "agent", pki, tenant=tenant, agent_id="agent-1", gateway_port=port,
        targets=[snmp_site.endpoint()], community=RECORDING, read_interval=0.5,
        mqtt={"host": broker.host, "port": broker.wss_port, "transport": "websockets",
              "ca_file": str(broker.ca_cert), "username": "agent-1",
              "password_file": str(tmp_path / "agent.pw"), "keepalive_seconds": 2,
              "reconnect_min_seconds": 1, "reconnect_max_seconds": 2})
    repository: SqlRepository = open_repository(database)
    try:
        gateway.start()
        wait_listening(port)
        runner.start()
        wait_for(lambda: "connected to broker" in runner.log(), TIMEOUT, "the agent connected")

        os.kill(broker_process.pid, signal.SIGSTOP)
        wait_for(lambda: "lost the broker" in runner.log(), TIMEOUT,
                 f"the agent to notice\n{runner.log()[-2000:]}")
        during = len(repository.reading_ids())
        wait_for(lambda: len(repository.reading_ids()) >= during + 3, TIMEOUT,
                 "readings stored while the broker is down")

        os.kill(broker_process.pid, signal.SIGCONT)
        wait_for(lambda: runner.log().count("connected to broker") >= 2, TIMEOUT,
                 f"the agent reconnected\n{runner.log()[-2000:]}")

        settings = MqttSettings(host=broker.host, port=broker.mqtt_port,
                                ca_file=str(broker.ca_cert), username="nudger",
                                password_file=str(tmp_path / "nudger.pw"),
                                client_id=f"nudger-{tenant}")

        async def nudge() -> tuple[str, float]:
            async with NudgePublisher(settings) as publisher:
                assert await publisher.wait_connected()
                started = time.monotonic()
                task = await queue_task(repository, publisher, agent,
                                        gateway_pb2.Task(read_now=gateway_pb2.ReadNow()))
            return task.task_id, started

        # The re-subscription follows the reconnection closely; allow it a moment.
        task_id, started = asyncio.run(nudge())
        wait_for(lambda: repository.task_state(task_id) != "queued", 30, "the task fetched")
        assert time.monotonic() - started < 2.0
        assert runner.terminate() == 0
    finally:
        runner.ensure_stopped()
        gateway.ensure_stopped()
        repository.close()
    produced, stored = spooled_ids(runner.log()), repository_ids(database)
    assert len(stored) == len(set(stored))
    assert set(produced) - set(stored) <= set(spool_ids(tmp_path / "agent"))


def repository_ids(database: str) -> list[str]:
    repository = open_repository(database)
    try:
        return repository.reading_ids()
    finally:
        repository.close()
