"""Tasks: leases that survive a crashed agent, `kdfm-cloud task queue|list` with the nudge on a
real Mosquitto, and the whole way to a running agent and back."""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from harness.mqtt import connected_client
from harness.snmpsim import SnmpSite
from kdfm_cloud.devstack.mosquitto import Broker
from kdfm_cloud.nudge import NUDGER_PUBLISH, nudge_topic, status_topic
from kdfm_cloud.store import (
    AgentKey,
    SqlRepository,
    TaskLease,
    open_repository,
    sqlite_url,
    tables,
)
from kdfm_cloud.tasks import queue_and_nudge
from kdfm_proto.v1 import gateway_pb2

from ..uplink.agentkit import agent_service
from .kit import (
    Pki,
    free_tcp_port,
    gateway_service,
    nudge_accounts,
    wait_for,
    wait_listening,
)

AGENT = AgentKey("tenant-a", "agent-1")
LEASE = TaskLease(duration=timedelta(minutes=15), max_deliveries=3)


def _age_deliveries(repository: SqlRepository, by: timedelta) -> None:
    """Let time pass for the leases: every delivery happened `by` earlier."""
    t = tables.tasks
    delivered = sa.select(t.c.task_id, t.c.delivered_at).where(t.c.delivered_at.is_not(None))
    with repository.engine.begin() as conn:
        for task_id, delivered_at in conn.execute(delivered).all():
            stamp = delivered_at if delivered_at.tzinfo else delivered_at.replace(tzinfo=UTC)
            conn.execute(t.update().where(t.c.task_id == task_id)
                         .values(delivered_at=stamp - by))


def test_a_task_never_reported_is_handed_out_again_after_its_lease(
        repository: SqlRepository) -> None:
    lost = repository.queue_task(AGENT, gateway_pb2.Task(read_now=gateway_pb2.ReadNow()))
    done = repository.queue_task(AGENT, gateway_pb2.Task(discover_now=gateway_pb2.DiscoverNow()))
    assert [t.task_id for t in repository.take_tasks(AGENT, 10, LEASE)] == [lost.task_id,
                                                                            done.task_id]
    # The agent reports one and crashes before it reports the other.
    assert repository.finish_task(AGENT, done.task_id, "succeeded", "swept")
    assert repository.take_tasks(AGENT, 10, LEASE) == []  # within the lease: nothing
    _age_deliveries(repository, timedelta(minutes=16))
    again = repository.take_tasks(AGENT, 10, LEASE)
    assert [t.task_id for t in again] == [lost.task_id]
    assert again[0].WhichOneof("kind") == "read_now"
    assert repository.task_state(done.task_id) == "succeeded"
    # A result reported after the redelivery ends it for good.
    assert repository.finish_task(AGENT, lost.task_id, "succeeded", "read 3 devices")
    _age_deliveries(repository, timedelta(minutes=16))
    assert repository.take_tasks(AGENT, 10, LEASE) == []
    rows = {r.task_id: r for r in repository.tasks("tenant-a")}
    assert (rows[lost.task_id].deliveries, rows[lost.task_id].state) == (2, "succeeded")


def test_a_task_never_reported_is_failed_after_max_deliveries(
        repository: SqlRepository) -> None:
    task = repository.queue_task(AGENT, gateway_pb2.Task(read_now=gateway_pb2.ReadNow()))
    for _ in range(LEASE.max_deliveries):
        assert [t.task_id for t in repository.take_tasks(AGENT, 10, LEASE)] == [task.task_id]
        _age_deliveries(repository, timedelta(minutes=16))
    assert repository.take_tasks(AGENT, 10, LEASE) == []
    row = repository.tasks(agent_id="agent-1")[0]
    assert row.state == "failed" and row.deliveries == LEASE.max_deliveries
    assert row.message is not None and "no result reported after 3 deliveries" in row.message


def test_update_config_is_queued_with_the_new_configuration_version(
        repository: SqlRepository) -> None:
    repository.set_config(AGENT, gateway_pb2.AgentConfig(targets=["10.0.0.0/24"]))
    queued = asyncio.run(queue_and_nudge(repository, None, AGENT, gateway_pb2.Task(
        update_config=gateway_pb2.AgentConfig(targets=["10.1.0.0/24"]))))
    assert queued.nudged is None and queued.task.update_config.version == 2
    # The next poll of an agent that applied the task does not hand it the old one again.
    assert repository.config_if_changed(AGENT, 2) is None
    current = repository.config_if_changed(AGENT, 1)
    assert current is not None and list(current.targets) == ["10.1.0.0/24"]


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kdfm_cloud.cli", "task", *args],
                          capture_output=True, text=True, timeout=timeout, check=False)


def _stack_config(directory: Path, database: str, mosquitto: Broker | None,
                  user: str = "", password_file: Path | None = None) -> Path:
    """A cloud.yaml as `kdfm-cloud dev up` writes it: the store and the nudger's broker."""
    config: dict[str, Any] = {"store": {"database": database}}
    if mosquitto is not None:
        config["mqtt"] = {"host": mosquitto.host, "port": mosquitto.mqtt_port,
                          "transport": "tcp", "ca_file": str(mosquitto.ca_cert),
                          "username": user, "password_file": str(password_file)}
    path = directory / "cloud.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_cli_refuses_an_unknown_agent_and_lists_json(tmp_path: Path) -> None:
    database = sqlite_url(tmp_path / "cloud.db")
    config = _stack_config(tmp_path, database, None)
    refused = _cli("queue", "--tenant", "tenant-a", "--agent", "nobody", "--config", str(config),
                   "read-now")
    assert refused.returncode == 1 and "no agent 'nobody' in tenant 'tenant-a'" in refused.stderr
    repository = open_repository(database)
    try:
        repository.record_poll(AGENT, "0.1.0", 0)
    finally:
        repository.close()
    queued = _cli("queue", "--tenant", "tenant-a", "--agent", "agent-1", "--config", str(config),
                  "--json", "update-config", "--targets", "10.2.0.0/24", "printer.example")
    assert queued.returncode == 0, queued.stderr
    answer = json.loads(queued.stdout)
    assert (answer["kind"], answer["nudged"]) == ("update_config", None)
    listed = json.loads(_cli("list", "--config", str(config), "--json").stdout)
    assert [(t["task_id"], t["kind"], t["state"]) for t in listed] == [
        (answer["task_id"], "update_config", "queued")]
    assert _cli("list", "--tenant", "other", "--config", str(config), "--json").stdout.strip() \
        == "[]"


@pytest.mark.mqtt
def test_cli_queue_publishes_the_nudge(tmp_path: Path, mosquitto: Broker) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    agent = AgentKey(tenant, "agent-1")
    database = sqlite_url(tmp_path / "cloud.db")
    password = secrets.token_urlsafe(16)
    mosquitto.add_client(f"{tenant}-nudger", password, publish=[NUDGER_PUBLISH],
                         subscribe=["kdfm/v1/#"])
    (tmp_path / "nudger.pw").write_text(password)
    config = _stack_config(tmp_path, database, mosquitto, f"{tenant}-nudger",
                           tmp_path / "nudger.pw")
    repository = open_repository(database)
    try:
        repository.record_poll(agent, "0.1.0", 0)
        with connected_client(mosquitto, f"{tenant}-nudger", password) as observer:
            observer.subscribe(nudge_topic(agent))
            queued = _cli("queue", "--tenant", tenant, "--agent", "agent-1", "--config",
                          str(config), "read-now", "10.0.0.5")
            assert queued.returncode == 0, queued.stderr
            assert "agent nudged" in queued.stdout
            message = observer.next_message(timeout=60)
            assert (message.topic, message.payload) == (nudge_topic(agent), b"")
        task = repository.tasks(tenant)[0]
        assert (task.kind, task.state) == ("read_now", "queued")
    finally:
        repository.close()
        mosquitto.remove_client(f"{tenant}-nudger")


@pytest.mark.e2e
@pytest.mark.snmp
@pytest.mark.mqtt
def test_read_now_from_the_cli_reaches_the_running_agent_and_succeeds(
        tmp_path: Path, pki: Pki, snmp_site: SnmpSite, mosquitto: Broker) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    agent = AgentKey(tenant, "agent-1")
    database = sqlite_url(tmp_path / "cloud.db")
    port = free_tcp_port()
    gateway = gateway_service(pki, tmp_path / "gateway", database, port)
    with nudge_accounts(mosquitto, agent, tmp_path) as accounts:
        config = _stack_config(tmp_path, database, mosquitto, accounts.nudger_username,
                               accounts.nudger_password_file)
        # Poll interval 300 s (the default): only the nudge can make the agent fetch the task soon.
        runner = agent_service(
            tmp_path / "agent", pki, tenant=tenant, agent_id="agent-1", gateway_port=port,
            targets=[snmp_site.endpoint()], community="brother_mfc-l2710dw",
            mqtt=accounts.agent_mqtt(mosquitto, transport="tcp"))
        repository = open_repository(database)
        try:
            gateway.start()
            wait_listening(port)
            runner.start()
            wait_for(lambda: repository.devices(tenant), 120, f"a first reading\n{runner.log()}")
            # The agent says "online" (retained) once its broker session, and the subscription
            # to its nudge topic made before it, is up.
            with connected_client(mosquitto, accounts.nudger_username,
                                  accounts.nudger_password) as observer:
                observer.subscribe(status_topic(agent))
                assert observer.next_message(timeout=60).payload == b"online"
            before = len(repository.reading_ids(tenant))

            queued = _cli("queue", "--tenant", tenant, "--agent", "agent-1", "--config",
                          str(config), "--json", "read-now")
            assert queued.returncode == 0, queued.stderr
            answer = json.loads(queued.stdout)
            assert answer["nudged"] is True

            def finished() -> dict[str, Any] | None:
                rows = json.loads(_cli("list", "--tenant", tenant, "--agent", "agent-1",
                                       "--config", str(config), "--json").stdout)
                row = next(r for r in rows if r["task_id"] == answer["task_id"])
                return row if row["state"] not in ("queued", "delivered") else None

            row = wait_for(finished, 90, f"the read-now task to finish\n{runner.log()}", 0.5)
            assert row["state"] == "succeeded", row
            delivered = datetime.fromisoformat(row["delivered_at"])
            created = datetime.fromisoformat(row["created_at"])
            assert delivered - created < timedelta(seconds=2), (created, delivered)
            assert len(repository.reading_ids(tenant)) > before
            assert runner.terminate(timeout=60) == 0
        finally:
            runner.ensure_stopped()
            gateway.ensure_stopped()
            repository.close()
    assert "Traceback" not in runner.log(), runner.log()
