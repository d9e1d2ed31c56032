"""The operator's generated mosquitto.conf, password file and ACL loaded into a real Mosquitto.

TLS material comes from the real OpenBao through the operator's Vault client; paho clients prove
tenant isolation over MQTT/TLS and WSS, and that a SIGHUP reload adds a tenant without dropping
connected clients.
"""

from __future__ import annotations

import getpass
import os
import queue
import signal
import socket
import ssl
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from kdfm_cloud.devstack.openbao import Vault
from kdfm_cloud.devstack.processes import Process, free_port, start_process, wait_until
from kdfm_operator.clients.vault import VaultClient
from kdfm_operator.reconcile import broker as rb
from kdfm_operator.reconcile import certificate as rc
from paho.mqtt.enums import CallbackAPIVersion

pytestmark = [pytest.mark.mqtt, pytest.mark.vault]
HOST = "127.0.0.1"
TIMEOUT = 30.0


@dataclass
class RunningBroker:
    process: Process
    mqtt_port: int
    wss_port: int
    ca_file: Path
    passwords: dict[str, str]
    paths: rb.ConfigPaths
    users: list[rb.BrokerUser]

    def write_auth(self) -> None:
        Path(self.paths.password_file).write_text(rb.render_password_file(self.users))
        Path(self.paths.acl_file).write_text(rb.render_acl(self.users))


def _user(name: str, password: str, topics: tuple[str, ...] | None = None) -> rb.BrokerUser:
    tenants = [rb.BoundTenant(name, True, rb.hash_password(password, os.urandom(12)))]
    if topics is not None:
        return rb.BrokerUser(name, tenants[0].password_hash or "", topics)
    users = rb.broker_users(tenants, cloud_username="kdfm-cloud", cloud_password_hash="x")
    return next(u for u in users if u.username == name)


@pytest.fixture
def broker(vault: Vault, tmp_path: Path) -> Iterator[RunningBroker]:
    """Mosquitto running exactly the operator's rendered configuration."""
    client = VaultClient(vault.addr, vault.token, timeout_s=30)
    spec = rc.parse_spec(
        {
            "commonName": "mqtt.kdfm.test",
            "dnsNames": ["localhost"],
            "ipAddresses": [HOST],
            "duration": "1h",
            "issuer": {
                "vaultAddress": vault.addr,
                "pkiMount": vault.int_mount,
                "role": vault.role,
                "authRef": {"secretName": "x"},
            },
            "secretName": "x",
        }
    )
    bundle = client.issue(spec, timedelta(hours=1))
    tls = tmp_path / "tls"
    tls.mkdir()
    (tls / "tls.crt").write_text(bundle.certificate + "\n" + bundle.ca_chain)
    (tls / "tls.key").write_text(bundle.private_key)
    # Clients trust the root; the server sends its chain (leaf + intermediate).
    (tls / "ca.crt").write_text(vault.root_ca_pem)
    paths = rb.ConfigPaths(
        password_file=str(tmp_path / "passwd"),
        acl_file=str(tmp_path / "acl"),
        certfile=str(tls / "tls.crt"),
        keyfile=str(tls / "tls.key"),
        cafile=str(tls / "ca.crt"),
    )
    passwords = {"acme": "acme-pw", "globex": "globex-pw", "kdfm-cloud": "cloud-pw"}
    users = [
        _user("acme", passwords["acme"]),
        _user("kdfm-cloud", passwords["kdfm-cloud"], ("kdfm/v1/#",)),
    ]
    running: RunningBroker | None = None
    for _attempt in range(3):
        mqtt_port = free_port(HOST)
        wss_port = free_port("0.0.0.0")  # the WebSockets listener ignores a bind address
        conf = rb.render_config(
            wss_port=wss_port, mqtts_port=mqtt_port, paths=paths, bind_address=HOST
        )
        # Only for the test: run as the current user (as root Mosquitto would switch users).
        (tmp_path / "mosquitto.conf").write_text(f"user {getpass.getuser()}\n" + conf)
        running = RunningBroker(
            process=start_process(
                "mosquitto",
                ["/usr/sbin/mosquitto", "-c", str(tmp_path / "mosquitto.conf")],
                log_path=tmp_path / "mosquitto.log",
            ),
            mqtt_port=mqtt_port,
            wss_port=wss_port,
            ca_file=tls / "ca.crt",
            passwords=passwords,
            paths=paths,
            users=users,
        )
        running.write_auth()
        try:
            wait_until(
                lambda r=running: (
                    _handshake(r.mqtt_port, r.ca_file) and _handshake(r.wss_port, r.ca_file)
                ),
                timeout=TIMEOUT,
                what="mosquitto with the operator's configuration",
                alive=running.process.alive,
                log_path=running.process.log_path,
            )
            break
        except Exception:
            exited = not running.process.alive()
            running.process.stop()
            if not exited:
                raise
            running = None  # most likely a port taken between free_port() and bind
    assert running is not None, "mosquitto did not start in 3 attempts"
    try:
        yield running
    finally:
        running.process.stop()


def _handshake(port: int, ca_file: Path) -> bool:
    context = ssl.create_default_context(cafile=str(ca_file))
    try:
        with (
            socket.create_connection((HOST, port), timeout=2) as raw,
            context.wrap_socket(raw, server_hostname=HOST),
        ):
            return True
    except OSError:
        return False


class Client:
    """A paho client with queues for what happens to it, used as a context manager."""

    def __init__(
        self, b: RunningBroker, user: str | None, password: str | None, transport: str
    ) -> None:
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.connack: queue.Queue[int] = queue.Queue()
        self.subacks: queue.Queue[list[int]] = queue.Queue()
        self.disconnects: queue.Queue[int] = queue.Queue()
        self.c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"t-{uuid.uuid4().hex[:10]}",
            transport="websockets" if transport == "wss" else "tcp",
            protocol=mqtt.MQTTv311,
        )
        self.c.tls_set(ca_certs=str(b.ca_file), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        if user is not None:
            self.c.username_pw_set(user, password)
        self.c.on_connect = lambda _c, _u, _f, rc, _p: self.connack.put(rc.value)
        self.c.on_message = lambda _c, _u, m: self.messages.put((m.topic, m.payload))
        self.c.on_subscribe = lambda _c, _u, _mid, rcs, _p: self.subacks.put([r.value for r in rcs])
        self.c.on_disconnect = lambda _c, _u, _f, rc, _p: self.disconnects.put(rc.value)
        self.port = b.wss_port if transport == "wss" else b.mqtt_port

    def __enter__(self) -> Client:
        self.c.connect(HOST, self.port, keepalive=30)
        self.c.loop_start()
        return self

    def __exit__(self, *_: object) -> None:
        self.c.disconnect()
        self.c.loop_stop()

    def connack_code(self) -> int:
        return self.connack.get(timeout=TIMEOUT)

    def subscribe(self, topic: str) -> list[int]:
        self.c.subscribe(topic, qos=1)
        return self.subacks.get(timeout=TIMEOUT)

    def publish(self, topic: str, payload: bytes) -> None:
        self.c.publish(topic, payload, qos=1).wait_for_publish(timeout=TIMEOUT)


@pytest.mark.parametrize("transport", ["tcp", "wss"])
def test_tenants_are_isolated(broker: RunningBroker, transport: str) -> None:
    pw = broker.passwords
    with (
        Client(broker, "acme", pw["acme"], transport) as acme,
        Client(broker, "kdfm-cloud", pw["kdfm-cloud"], transport) as cloud,
    ):
        assert acme.connack_code() == 0 and cloud.connack_code() == 0
        assert acme.subscribe("kdfm/v1/acme/#") == [1]
        # Mosquitto 2.0 grants subscriptions outside the ACL (SUBACK 1) and filters on
        # delivery instead, so the proof is what arrives, not the SUBACK.
        acme.subscribe("kdfm/v1/globex/#")
        acme.subscribe("kdfm/v1/#")
        assert cloud.subscribe("kdfm/v1/#") == [1]

        cloud.publish("kdfm/v1/globex/tasks", b"not for acme")
        cloud.publish("kdfm/v1/acme/tasks", b"nudge")
        got = _until(acme, ("kdfm/v1/acme/tasks", b"nudge"))
        assert all(not t.startswith("kdfm/v1/globex/") for t, _ in got), got
        # acme publishing into globex is dropped by the ACL; its own topic is delivered.
        acme.publish("kdfm/v1/globex/readings", b"spoof")
        acme.publish("kdfm/v1/acme/readings", b"reading")
        got = _until(cloud, ("kdfm/v1/acme/readings", b"reading"))
        assert ("kdfm/v1/globex/readings", b"spoof") not in got, got


def _until(client: Client, marker: tuple[str, bytes]) -> list[tuple[str, bytes]]:
    """Messages received up to and including marker (publish order is delivery order)."""
    seen = []
    while True:
        message = client.messages.get(timeout=TIMEOUT)
        seen.append(message)
        if message == marker:
            return seen


@pytest.mark.parametrize(
    ("user", "password"),
    [(None, None), ("acme", "wrong"), ("globex", "globex-pw"), ("unknown", "x")],
)
def test_refused_connections(broker: RunningBroker, user: str | None, password: str | None) -> None:
    with Client(broker, user, password, "tcp") as c:
        # MQTT 3.1.1 CONNACK 5 "not authorised", which paho 2 reports as reason code 135
        # (anonymous off, wrong password, no credential before the agreement is signed).
        assert c.connack_code() == 135


def test_sighup_adds_a_tenant_without_dropping_clients(broker: RunningBroker) -> None:
    pw = broker.passwords
    with Client(broker, "acme", pw["acme"], "wss") as acme:
        assert acme.connack_code() == 0
        assert acme.subscribe("kdfm/v1/acme/#") == [1]
        broker.users.append(_user("globex", pw["globex"]))
        broker.write_auth()
        os.kill(broker.process.pid, signal.SIGHUP)

        # The reload is asynchronous: poll until globex is accepted.
        def globex_accepted() -> bool:
            with Client(broker, "globex", pw["globex"], "tcp") as g:
                return g.connack_code() == 0

        wait_until(
            globex_accepted, timeout=TIMEOUT, what="globex accepted after SIGHUP", interval=0.3
        )
        assert acme.disconnects.empty(), "the reload dropped a connected client"
        with Client(broker, "globex", pw["globex"], "tcp") as globex:
            assert globex.connack_code() == 0
            globex.subscribe("kdfm/v1/acme/#")
            assert globex.subscribe("kdfm/v1/globex/#") == [1]
            with Client(broker, "kdfm-cloud", pw["kdfm-cloud"], "tcp") as cloud:
                assert cloud.connack_code() == 0
                cloud.publish("kdfm/v1/acme/tasks", b"still here")
                cloud.publish("kdfm/v1/globex/tasks", b"for globex")
            # The client connected before the reload still receives; globex sees only its own.
            assert acme.messages.get(timeout=TIMEOUT) == ("kdfm/v1/acme/tasks", b"still here")
            got = _until(globex, ("kdfm/v1/globex/tasks", b"for globex"))
            assert got == [("kdfm/v1/globex/tasks", b"for globex")]
