"""gRPC and MQTT over WSS through an HTTPS proxy: a real tinyproxy (Debian package `tinyproxy`) on
a free loopback port, allowed to CONNECT to the ports each test names. Readings reach the
gateway, nudges reach the agent, and the proxy's log shows the tunnels they went through; a
proxy that refuses the broker, wants credentials or is down is named in a clear error while
polling goes on. The proxy is chosen by gRPC's rules (gateway.proxy, https_proxy, no_proxy)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import psutil
import pytest
import yaml
from harness.snmpsim import SnmpSite
from kdfm_agent.errors import ConfigError
from kdfm_agent.settings import MqttSettings as AgentMqtt
from kdfm_agent.settings import load_settings
from kdfm_agent.uplink.mqtt import NudgeListener
from kdfm_agent.uplink.proxy import HttpProxy, bypasses, parse_proxy_url, proxy_for
from kdfm_cloud.devstack.mosquitto import Broker
from kdfm_cloud.nudge import NudgePublisher
from kdfm_cloud.settings import MqttSettings as CloudMqtt
from kdfm_cloud.store import AgentKey, SqlRepository, open_repository, sqlite_url
from kdfm_cloud.tasks import queue_task
from kdfm_proto.v1 import gateway_pb2

from ..cloud.kit import (
    NudgeAccounts,
    Pki,
    Service,
    free_tcp_port,
    gateway_service,
    nudge_accounts,
    wait_for,
    wait_listening,
)
from .agentkit import agent_service
from .proxykit import tinyproxy
from .runkit import agent, agent_settings, gateway, stored_readings, wait_until

RECORDING = "brother_mfc-l2710dw"
PROXY_VARIABLES = ("grpc_proxy", "https_proxy", "http_proxy", "no_grpc_proxy", "no_proxy")


@pytest.fixture
def clean_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No proxy variable from the machine running the tests leaks into a test."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


# -- choosing the proxy (gRPC's rules) -------------------------------------------------------

@pytest.mark.parametrize(("configured", "environ", "expected"), [
    ("", {}, None),
    ("http://proxy.example:3128", {}, HttpProxy("proxy.example", 3128)),
    ("", {"https_proxy": "http://p:8080"}, HttpProxy("p", 8080, source="https_proxy")),
    # gRPC's order: grpc_proxy, https_proxy, http_proxy; the first one set wins, even if empty.
    ("", {"grpc_proxy": "http://g:1", "https_proxy": "http://p:2"},
     HttpProxy("g", 1, source="grpc_proxy")),
    ("", {"grpc_proxy": "", "https_proxy": "http://p:2"}, None),
    ("", {"http_proxy": "http://h:3"}, HttpProxy("h", 3, source="http_proxy")),
    # Upper-case names are not gRPC's: both transports ignore them alike.
    ("", {"HTTPS_PROXY": "http://p:2"}, None),
    # The setting wins over the environment.
    ("http://mine:9", {"https_proxy": "http://p:2"}, HttpProxy("mine", 9)),
    # No port: 443, the port gRPC resolves a proxy name with.
    ("http://proxy.example", {}, HttpProxy("proxy.example", 443)),
    ("http://us%40er:p%3Ass@proxy.example:3128", {},
     HttpProxy("proxy.example", 3128, "us@er", "p:ss")),
    # no_proxy applies to an explicit proxy too; no_grpc_proxy is read first.
    ("http://mine:9", {"no_proxy": "example.net"}, None),
    ("", {"https_proxy": "http://p:2", "no_grpc_proxy": "other", "no_proxy": "example.net"},
     HttpProxy("p", 2, source="https_proxy")),
    # A bad URL in the environment is ignored (gRPC ignores it too): direct.
    ("", {"https_proxy": "socks5://p:1080"}, None),
])
def test_proxy_choice_follows_grpc(configured: str, environ: dict[str, str],
                                   expected: HttpProxy | None) -> None:
    assert proxy_for("broker.example.net", configured, environ) == expected


@pytest.mark.parametrize(("host", "no_proxy", "expected"), [
    ("broker.example.net", "example.net", True),
    ("broker.example.net", " other.org , EXAMPLE.NET ", True),
    ("broker.example.net", "broker.example.com", False),
    ("10.1.2.3", "10.0.0.0/8", True),
    ("10.1.2.3", "10.1.2.4/32", False),
    ("::1", "::1/128", True),
    ("10.1.2.3", "::/0", False),
    ("127.0.0.1", "127.0.0.1", True),
    ("broker.example.net", "", False),
    ("broker.example.net", "10.0.0.0/8,,", False),
])
def test_no_proxy_matches_suffixes_and_cidr_blocks(host: str, no_proxy: str,
                                                   expected: bool) -> None:
    assert bypasses(host, no_proxy) is expected


@pytest.mark.parametrize(("url", "problem"), [
    ("https://proxy:3128", "must start with http://"),
    ("proxy:3128", "must start with http://"),
    ("http://:3128", "names no host"),
    ("http://proxy:99999", "invalid port"),
    ("http://proxy:3128/path", "without a path"),
])
def test_a_bad_proxy_setting_is_refused_with_its_name(tmp_path: Path, url: str,
                                                      problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_proxy_url(url)
    config = tmp_path / "agent.yaml"
    config.write_text(yaml.safe_dump({"gateway": {"proxy": url}}))
    with pytest.raises(ConfigError, match=f"gateway.proxy .*{problem}"):
        load_settings(config)


def test_credentials_never_appear_in_messages() -> None:
    proxy = parse_proxy_url("http://user:secret@proxy:3128")
    assert "secret" not in str(proxy) and "secret" not in repr(proxy)
    with pytest.raises(ValueError) as refused:
        parse_proxy_url("http://user:secret@proxy:3128/x")
    assert "secret" not in str(refused.value)


# -- gRPC through the proxy ------------------------------------------------------------------

@pytest.mark.snmp
@pytest.mark.e2e
async def test_readings_go_through_the_https_proxy(
        tmp_path: Path, pki: Pki, snmp_site: SnmpSite,
        sqlite_repository: SqlRepository, clean_proxy_environment: pytest.MonkeyPatch) -> None:
    repository = sqlite_repository
    key = AgentKey(f"t-{uuid.uuid4().hex[:8]}", "agent-1")
    settings = agent_settings(tmp_path / "state", [snmp_site.endpoint()], RECORDING)
    async with gateway(pki, repository) as address:
        gateway_port = int(address.rsplit(":", 1)[1])
        with tinyproxy(tmp_path, [gateway_port]) as proxy:
            settings = replace(settings, gateway=replace(settings.gateway, proxy=proxy.url()))
            async with agent(pki, key, address, settings) as running:
                await wait_until(lambda: stored_readings(repository, key.tenant), 120,
                                 "a reading uploaded through the proxy")
                await wait_until(lambda: running.runner.polls > 0, 60, "a poll")
            text = proxy.log.read_text()
    # The agent's channel is a CONNECT tunnel to the gateway, opened by the proxy.
    assert ("127.0.0.1", gateway_port) in proxy.tunnels(), text
    assert 'Established connection to host "127.0.0.1"' in text, text


# -- MQTT over WSS through the proxy: real agent processes -----------------------------------

def _agent_process(tmp_path: Path, pki: Pki, agent_key: AgentKey, gateway_port: int,
                   snmp_site: SnmpSite, mqtt: dict[str, Any], proxy: str = "") -> Service:
    runner = agent_service(
        tmp_path / "agent", pki, tenant=agent_key.tenant, agent_id=agent_key.agent_id,
        gateway_port=gateway_port, targets=[snmp_site.endpoint()], community=RECORDING,
        read_interval=0.5, mqtt={**mqtt, "reconnect_min_seconds": 1, "reconnect_max_seconds": 2})
    if proxy:
        config = tmp_path / "agent" / "agent.yaml"
        data = yaml.safe_load(config.read_text())
        data["gateway"]["proxy"] = proxy
        config.write_text(yaml.safe_dump(data))
    return runner


def _nudge_task(repository: SqlRepository, accounts: NudgeAccounts, broker: Broker,
                agent_key: AgentKey) -> str:
    settings = CloudMqtt(host=broker.host, port=broker.mqtt_port, ca_file=str(broker.ca_cert),
                         username=accounts.nudger_username,
                         password_file=str(accounts.nudger_password_file),
                         client_id=f"{agent_key.tenant}-nudger")

    async def nudge() -> str:
        async with NudgePublisher(settings) as publisher:
            assert await publisher.wait_connected()
            task = await queue_task(repository, publisher, agent_key,
                                    gateway_pb2.Task(read_now=gateway_pb2.ReadNow()))
        return task.task_id

    return asyncio.run(nudge())


@pytest.mark.snmp
@pytest.mark.e2e
@pytest.mark.mqtt
def test_a_nudge_comes_over_wss_through_the_proxy_from_the_environment(
        tmp_path: Path, pki: Pki, snmp_site: SnmpSite, mosquitto: Broker,
        clean_proxy_environment: pytest.MonkeyPatch) -> None:
    agent_key = AgentKey(f"t-{uuid.uuid4().hex[:8]}", "agent-1")
    database = sqlite_url(tmp_path / "cloud.db")
    port = free_tcp_port()
    # Poll interval 300 s: only the nudge can make the agent fetch the task soon.
    cloud = gateway_service(pki, tmp_path / "gateway", database, port)
    with nudge_accounts(mosquitto, agent_key, tmp_path) as accounts, \
            tinyproxy(tmp_path / "proxy", [port, mosquitto.wss_port]) as proxy:
        runner = _agent_process(tmp_path, pki, agent_key, port, snmp_site,
                                accounts.agent_mqtt(mosquitto))
        repository = open_repository(database)
        try:
            cloud.start()
            wait_listening(port)
            # Only the agent process gets the variable (the gateway started without it).
            clean_proxy_environment.setenv("https_proxy", proxy.url())
            runner.start()
            clean_proxy_environment.delenv("https_proxy")
            wait_for(lambda: repository.reading_ids(agent_key.tenant), 120,
                     f"a reading uploaded through the proxy\n{runner.log()}")
            wait_for(lambda: f"through proxy {proxy.url()}" in runner.log(), 120,
                     f"the agent connected to the broker through the proxy\n{runner.log()}")

            # Outbound only, and only to the proxy: gRPC and MQTT are both its tunnels.
            connections = psutil.Process(runner.pid).net_connections(kind="tcp")
            assert [c for c in connections if c.status == psutil.CONN_LISTEN] == []
            # paho wakes its loop through a loopback socket pair of its own: both ends are
            # this process's, so it is no connection to anywhere.
            own = {c.laddr.port for c in connections}
            remote = {c.raddr.port for c in connections if c.raddr and c.raddr.port not in own}
            assert remote == {proxy.port}, connections

            task_id = _nudge_task(repository, accounts, mosquitto, agent_key)
            wait_for(lambda: repository.task_state(task_id) != "queued", 60,
                     f"the nudged agent to fetch the task\n{runner.log()}")
            wait_for(lambda: repository.task_state(task_id) == "succeeded", 60,
                     f"the read-now task to succeed\n{runner.log()}")
            assert runner.terminate(timeout=60) == 0
        finally:
            runner.ensure_stopped()
            cloud.ensure_stopped()
            repository.close()
        tunnels = proxy.tunnels()
    assert ("127.0.0.1", mosquitto.wss_port) in tunnels, proxy.log.read_text()
    assert ("127.0.0.1", port) in tunnels, proxy.log.read_text()
    assert "Traceback" not in runner.log(), runner.log()


@pytest.mark.snmp
@pytest.mark.e2e
@pytest.mark.mqtt
def test_a_proxy_that_refuses_the_broker_leaves_polling_working(
        tmp_path: Path, pki: Pki, snmp_site: SnmpSite, mosquitto: Broker,
        clean_proxy_environment: pytest.MonkeyPatch) -> None:
    agent_key = AgentKey(f"t-{uuid.uuid4().hex[:8]}", "agent-1")
    database = sqlite_url(tmp_path / "cloud.db")
    port = free_tcp_port()
    cloud = gateway_service(pki, tmp_path / "gateway", database, port)
    with nudge_accounts(mosquitto, agent_key, tmp_path) as accounts, \
            tinyproxy(tmp_path / "proxy", [port]) as proxy:
        runner = _agent_process(tmp_path, pki, agent_key, port, snmp_site,
                                accounts.agent_mqtt(mosquitto), proxy=proxy.url())
        refusal = (f"cannot reach broker 127.0.0.1:{mosquitto.wss_port}: proxy {proxy.url()} "
                   f"refused CONNECT 127.0.0.1:{mosquitto.wss_port}: 403")
        repository = open_repository(database)
        try:
            cloud.start()
            wait_listening(port)
            runner.start()
            # Refused, said so naming the proxy, and tried again (with backoff), not given up.
            wait_for(lambda: runner.log().count(refusal) >= 2, 120,
                     f"two refused MQTT attempts in the log\n{runner.log()}")
            uploaded = len(repository.reading_ids(agent_key.tenant))
            wait_for(lambda: len(repository.reading_ids(agent_key.tenant)) > uploaded, 120,
                     f"readings still arriving over gRPC\n{runner.log()}")
            assert runner.alive()
            assert "connected to broker" not in runner.log()
            assert runner.terminate(timeout=60) == 0
        finally:
            runner.ensure_stopped()
            cloud.ensure_stopped()
            repository.close()
    assert "Traceback" not in runner.log(), runner.log()


# -- the listener alone: credentials, a proxy that is down, no_proxy -------------------------

def _listener(broker: Broker, accounts: NudgeAccounts, agent_key: AgentKey,
              on_nudge: Callable[[], None], proxy: str = "",
              transport: Literal["websockets", "tcp"] = "websockets") -> NudgeListener:
    port = broker.wss_port if transport == "websockets" else broker.mqtt_port
    settings = AgentMqtt(host=broker.host, port=port, transport=transport,
                         username=accounts.agent_username, ca_file=str(broker.ca_cert),
                         reconnect_min_seconds=1, reconnect_max_seconds=2)
    return NudgeListener(settings, agent_key.tenant, agent_key.agent_id,
                         password=accounts.agent_password_file.read_text(),
                         ca_file=str(broker.ca_cert), on_nudge=on_nudge, proxy=proxy)


@pytest.mark.mqtt
def test_proxy_credentials_from_the_url(tmp_path: Path, mosquitto: Broker,
                                        clean_proxy_environment: pytest.MonkeyPatch) -> None:
    agent_key = AgentKey(f"t-{uuid.uuid4().hex[:8]}", "agent-1")
    with nudge_accounts(mosquitto, agent_key, tmp_path) as accounts, \
            tinyproxy(tmp_path / "proxy", [mosquitto.wss_port],
                      basic_auth="site-agent s3cret") as proxy:

        async def main() -> None:
            without = _listener(mosquitto, accounts, agent_key, lambda: None, proxy.url())
            async with without:
                await wait_until(lambda: without.last_error, 60, "the refused tunnel")
            assert f"proxy {proxy.url()} refused CONNECT" in without.last_error
            assert "407" in without.last_error and "user name and password" in without.last_error

            wrong = _listener(mosquitto, accounts, agent_key, lambda: None,
                              proxy.url("site-agent:wrong"))
            async with wrong:
                await wait_until(lambda: wrong.last_error, 60, "the refused credentials")
            assert "did not accept the user name and password" in wrong.last_error
            assert "wrong" not in wrong.last_error

            nudged = asyncio.Event()
            right = _listener(mosquitto, accounts, agent_key, nudged.set,
                              proxy.url("site-agent:s3cret"))
            async with right:
                await asyncio.wait_for(right.subscribed.wait(), 60)
                assert right.last_error == ""

        asyncio.run(main())
        assert ("127.0.0.1", mosquitto.wss_port) in proxy.tunnels()


@pytest.mark.mqtt
@pytest.mark.parametrize("transport", ["websockets", "tcp"])
def test_a_proxy_that_is_down_is_retried_until_it_is_back(
        tmp_path: Path, mosquitto: Broker, clean_proxy_environment: pytest.MonkeyPatch,
        transport: Literal["websockets", "tcp"]) -> None:
    agent_key = AgentKey(f"t-{uuid.uuid4().hex[:8]}", "agent-1")
    proxy_port = free_tcp_port()
    url = f"http://127.0.0.1:{proxy_port}"
    broker_port = mosquitto.wss_port if transport == "websockets" else mosquitto.mqtt_port
    with nudge_accounts(mosquitto, agent_key, tmp_path) as accounts:

        async def main() -> None:
            listener = _listener(mosquitto, accounts, agent_key, lambda: None, url, transport)
            with contextlib.ExitStack() as proxy:
                async with listener:
                    await wait_until(lambda: listener.last_error, 60, "the failed attempt")
                    assert f"proxy {url} (from gateway.proxy) is unreachable" in \
                        listener.last_error
                    running = proxy.enter_context(tinyproxy(tmp_path / "proxy", [broker_port],
                                                            port=proxy_port))
                    # paho's backoff (at most 2 s here) brings the next attempt.
                    await asyncio.wait_for(listener.subscribed.wait(), 60)
                    assert listener.last_error == ""
                    assert set(running.tunnels()) == {("127.0.0.1", broker_port)}

        asyncio.run(main())


@pytest.mark.mqtt
def test_no_proxy_sends_the_broker_direct(tmp_path: Path, mosquitto: Broker,
                                          clean_proxy_environment: pytest.MonkeyPatch) -> None:
    agent_key = AgentKey(f"t-{uuid.uuid4().hex[:8]}", "agent-1")
    # Nothing listens there: a connection that used the proxy would fail.
    clean_proxy_environment.setenv("https_proxy", f"http://127.0.0.1:{free_tcp_port()}")
    with nudge_accounts(mosquitto, agent_key, tmp_path) as accounts:

        async def main() -> None:
            clean_proxy_environment.setenv("no_proxy", "localhost,127.0.0.0/8")
            direct = _listener(mosquitto, accounts, agent_key, lambda: None)
            assert direct.proxy is None
            async with direct:
                await asyncio.wait_for(direct.subscribed.wait(), 60)

            clean_proxy_environment.delenv("no_proxy")
            proxied = _listener(mosquitto, accounts, agent_key, lambda: None)
            assert proxied.proxy is not None and proxied.proxy.source == "https_proxy"
            async with proxied:
                await wait_until(lambda: proxied.last_error, 60, "the failed attempt")
            assert "(from https_proxy) is unreachable" in proxied.last_error

        asyncio.run(main())
