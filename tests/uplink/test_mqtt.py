"""Nudges over a real Mosquitto: WSS and MQTT/TLS, presence, and tenant isolation."""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest
from harness.mqtt import connected_client
from kdfm_agent.settings import MqttSettings as AgentMqtt
from kdfm_agent.uplink.mqtt import NudgeListener
from kdfm_cloud.devstack.mosquitto import Broker
from kdfm_cloud.nudge import NUDGER_PUBLISH, NudgePublisher, agent_acl, status_topic
from kdfm_cloud.settings import MqttSettings as CloudMqtt
from kdfm_cloud.store import AgentKey

pytestmark = pytest.mark.mqtt

NUDGE_DEADLINE = 2.0


@dataclass(frozen=True)
class Account:
    username: str
    password: str


def _account(broker: Broker, publish: list[str], subscribe: list[str]) -> Account:
    account = Account(f"u-{uuid.uuid4().hex[:12]}", secrets.token_urlsafe(16))
    broker.add_client(account.username, account.password, publish=publish, subscribe=subscribe)
    return account


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def agent_account(mosquitto: Broker, tenant: str) -> Iterator[tuple[AgentKey, Account]]:
    agent = AgentKey(tenant, "agent-1")
    publish, subscribe = agent_acl(agent)
    account = _account(mosquitto, publish, subscribe)
    try:
        yield agent, account
    finally:
        mosquitto.remove_client(account.username)


@pytest.fixture
def cloud_settings(mosquitto: Broker, tmp_path: Path) -> Iterator[CloudMqtt]:
    account = _account(mosquitto, [NUDGER_PUBLISH], ["kdfm/v1/#"])
    password_file = tmp_path / "nudger.pw"
    password_file.write_text(account.password)
    try:
        yield CloudMqtt(host=mosquitto.host, port=mosquitto.mqtt_port,
                        ca_file=str(mosquitto.ca_cert), username=account.username,
                        password_file=str(password_file),
                        client_id=f"nudger-{uuid.uuid4().hex[:8]}")
    finally:
        mosquitto.remove_client(account.username)


def _agent_settings(broker: Broker, account: Account,
                    transport: Literal["websockets", "tcp"]) -> AgentMqtt:
    port = broker.wss_port if transport == "websockets" else broker.mqtt_port
    return AgentMqtt(host=broker.host, port=port, transport=transport, username=account.username,
                     ca_file=str(broker.ca_cert), reconnect_max_seconds=2)


@pytest.mark.parametrize("transport", ["websockets", "tcp"])
def test_a_nudge_reaches_the_agent_within_2_seconds(
        mosquitto: Broker, agent_account: tuple[AgentKey, Account], cloud_settings: CloudMqtt,
        transport: Literal["websockets", "tcp"]) -> None:
    agent, account = agent_account

    async def main() -> float:
        nudged = asyncio.Event()
        listener = NudgeListener(_agent_settings(mosquitto, account, transport), agent.tenant,
                                 agent.agent_id, password=account.password,
                                 ca_file=str(mosquitto.ca_cert), on_nudge=nudged.set)
        async with listener, NudgePublisher(cloud_settings) as publisher:
            await asyncio.wait_for(listener.subscribed.wait(), 30)
            started = time.monotonic()
            await publisher.nudge(agent)
            await asyncio.wait_for(nudged.wait(), 30)
            return time.monotonic() - started

    assert asyncio.run(main()) < NUDGE_DEADLINE


def test_presence_online_then_offline(mosquitto: Broker,
                                      agent_account: tuple[AgentKey, Account],
                                      cloud_settings: CloudMqtt) -> None:
    agent, account = agent_account
    password = Path(cloud_settings.password_file).read_text()
    with connected_client(mosquitto, cloud_settings.username, password) as observer:
        assert not observer.subscribe(status_topic(agent))[0].is_failure

        async def main() -> None:
            listener = NudgeListener(_agent_settings(mosquitto, account, "websockets"),
                                     agent.tenant, agent.agent_id, password=account.password,
                                     ca_file=str(mosquitto.ca_cert), on_nudge=lambda: None)
            async with listener:
                await asyncio.wait_for(listener.subscribed.wait(), 30)
                message = await asyncio.to_thread(observer.next_message)
                assert (message.topic, message.payload) == (status_topic(agent), b"online")

        asyncio.run(main())
        assert observer.next_message().payload == b"offline"


def test_the_last_will_says_offline_when_the_agent_vanishes(
        mosquitto: Broker, agent_account: tuple[AgentKey, Account],
        cloud_settings: CloudMqtt) -> None:
    agent, account = agent_account
    password = Path(cloud_settings.password_file).read_text()
    with connected_client(mosquitto, cloud_settings.username, password) as observer:
        observer.subscribe(status_topic(agent))

        async def main() -> None:
            listener = NudgeListener(_agent_settings(mosquitto, account, "tcp"), agent.tenant,
                                     agent.agent_id, password=account.password,
                                     ca_file=str(mosquitto.ca_cert), on_nudge=lambda: None)
            await listener.__aenter__()
            await asyncio.wait_for(listener.subscribed.wait(), 30)
            # Vanish without DISCONNECT: stop paho's thread and drop the socket.
            listener._client.loop_stop()
            sock = listener._client.socket()
            assert sock is not None
            sock.close()

        asyncio.run(main())
        assert observer.next_message().payload == b"online"
        assert observer.next_message(timeout=60).payload == b"offline"


def test_an_agent_cannot_reach_another_agents_topics(mosquitto: Broker, tenant: str,
                                                     cloud_settings: CloudMqtt) -> None:
    a, b = AgentKey(tenant, "agent-a"), AgentKey(f"{tenant}-other", "agent-b")
    account_a = _account(mosquitto, *agent_acl(a))
    password = Path(cloud_settings.password_file).read_text()
    try:
        with connected_client(mosquitto, cloud_settings.username, password) as observer, \
                connected_client(mosquitto, account_a.username, account_a.password,
                                 transport="websockets") as agent_a:
            observer.subscribe(status_topic(b))
            observer.subscribe(status_topic(a))
            for topic in (f"kdfm/v1/{b.tenant}/agents/{b.agent_id}/nudge",
                          f"kdfm/v1/{a.tenant}/agents/agent-b/nudge", "kdfm/v1/#",
                          f"kdfm/v1/{a.tenant}/agents/+/nudge"):
                assert agent_a.subscribe(topic)[0].is_failure, topic
            assert not agent_a.subscribe(f"kdfm/v1/{a.tenant}/agents/agent-a/nudge")[0].is_failure
            # Mosquitto acknowledges a forbidden publish but drops it.
            agent_a.publish(status_topic(b), b"offline")
            agent_a.publish(status_topic(a), b"online")
            message = observer.next_message()
            assert message.topic == status_topic(a)
            assert [m.topic for m in observer.received()] == []
    finally:
        mosquitto.remove_client(account_a.username)
