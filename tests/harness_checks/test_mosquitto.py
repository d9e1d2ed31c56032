"""Mosquitto: TLS 1.2+ only, dynamic-security passwords and ACLs, delivery over TLS and WSS."""

from __future__ import annotations

import socket
import ssl
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest
from harness.mqtt import ConnectRefused, connected_client
from kdfm_cloud.devstack.mosquitto import Broker, BrokerConfig, start, stop
from kdfm_cloud.devstack.processes import pid_running

pytestmark = pytest.mark.mqtt

MQTT311_CONNECT = bytes([0x10, 0x10, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 60, 0, 4]) + b"kdfm"
"""A complete MQTT 3.1.1 CONNECT packet (clean session, client id "kdfm"), sent in clear."""


@pytest.fixture
def tenant(mosquitto: Broker) -> Iterator[str]:
    """A topic prefix of this test's own, with a publisher and a subscriber allowed on it."""
    prefix = f"t-{uuid.uuid4().hex[:8]}"
    mosquitto.add_client(f"{prefix}-pub", "pub-secret", publish=[f"{prefix}/#"])
    mosquitto.add_client(f"{prefix}-sub", "sub-secret", subscribe=[f"{prefix}/allowed/#"])
    try:
        yield prefix
    finally:
        mosquitto.remove_client(f"{prefix}-pub")
        mosquitto.remove_client(f"{prefix}-sub")


@pytest.mark.parametrize("transport", ["tcp", "websockets"])
def test_message_delivered_between_authorised_clients(
    mosquitto: Broker, tenant: str, transport: Literal["tcp", "websockets"]
) -> None:
    topic = f"{tenant}/allowed/{transport}"
    with connected_client(mosquitto, f"{tenant}-sub", "sub-secret", transport=transport) as sub, \
            connected_client(mosquitto, f"{tenant}-pub", "pub-secret",
                             transport=transport) as pub:
        reasons = sub.subscribe(topic)
        assert not any(r.is_failure for r in reasons), reasons
        pub.publish(topic, b"hello " + transport.encode())
        message = sub.next_message()
    assert message.topic == topic
    assert message.payload == b"hello " + transport.encode()


def test_unauthorised_subscription_gets_nothing(mosquitto: Broker, tenant: str) -> None:
    secret_topic, allowed_topic = f"{tenant}/secret", f"{tenant}/allowed/sentinel"
    with connected_client(mosquitto, f"{tenant}-sub", "sub-secret") as sub, \
            connected_client(mosquitto, f"{tenant}-pub", "pub-secret") as pub:
        refused = sub.subscribe(secret_topic)
        assert all(r.is_failure for r in refused), refused
        assert sub.subscribe(allowed_topic)[0].is_failure is False
        pub.publish(secret_topic, b"not for you")
        # The secret was acknowledged before the sentinel was sent, so had the broker routed it,
        # it would arrive first.
        pub.publish(allowed_topic, b"sentinel")
        first = sub.next_message()
        assert first.topic == allowed_topic
        assert sub.received() == []


def test_wrong_password_is_refused(mosquitto: Broker, tenant: str) -> None:
    with pytest.raises(ConnectRefused) as refused, \
            connected_client(mosquitto, f"{tenant}-pub", "not-the-password"):
        pass
    assert refused.value.reason.is_failure
    assert refused.value.reason.getName() in {"Bad user name or password", "Not authorized"}


def test_removed_client_can_no_longer_connect(mosquitto: Broker) -> None:
    name = f"gone-{uuid.uuid4().hex[:8]}"
    mosquitto.add_client(name, "gone-secret", publish=[f"{name}/#"])
    with connected_client(mosquitto, name, "gone-secret") as client:
        client.publish(f"{name}/x", b"ok")
    mosquitto.remove_client(name)
    with pytest.raises(ConnectRefused), connected_client(mosquitto, name, "gone-secret"):
        pass


@pytest.mark.parametrize("listener", ["mqtt", "wss"])
def test_plaintext_connect_gets_no_connack(mosquitto: Broker, listener: str) -> None:
    port = mosquitto.mqtt_port if listener == "mqtt" else mosquitto.wss_port
    with socket.create_connection((mosquitto.host, port), timeout=10) as sock:
        sock.sendall(MQTT311_CONNECT)
        try:
            reply = sock.recv(64)
        except ConnectionResetError:
            reply = b""
    # No CONNACK (0x20): the listener wanted a TLS handshake and dropped the connection.
    assert not reply.startswith(b"\x20")


@pytest.mark.parametrize("listener", ["mqtt", "wss"])
def test_tls_1_1_is_refused_and_1_2_accepted(mosquitto: Broker, listener: str) -> None:
    port = mosquitto.mqtt_port if listener == "mqtt" else mosquitto.wss_port
    with socket.create_connection((mosquitto.host, port), timeout=10) as sock, \
            mosquitto.tls_context().wrap_socket(sock, server_hostname=mosquitto.host) as tls:
        assert tls.version() in {"TLSv1.2", "TLSv1.3"}

    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.load_verify_locations(str(mosquitto.ca_cert))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.1 is the point here
        old.minimum_version = ssl.TLSVersion.TLSv1_1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    old.set_ciphers("DEFAULT:@SECLEVEL=0")  # let this client really offer TLS 1.1
    with socket.create_connection((mosquitto.host, port), timeout=10) as sock, \
            pytest.raises(ssl.SSLError) as refused:
        old.wrap_socket(sock, server_hostname=mosquitto.host)
    # An alert means the server received the TLS 1.1 hello and rejected it (the MQTT listener
    # says protocol_version; libwebsockets answers internal_error).
    assert "ALERT" in str(refused.value.reason), refused.value


def test_background_start_and_stop(tmp_path: Path) -> None:
    state = tmp_path / "state"
    broker = start(BrokerConfig(), state)
    try:
        pid = int((state / "mosquitto.pid").read_text())
        assert Broker.load(state / "mosquitto.json") == broker
        broker.add_client("bg-user", "bg-secret", publish=["bg/#"], subscribe=["bg/#"])
        with connected_client(broker, "bg-user", "bg-secret") as client:
            assert not client.subscribe("bg/echo")[0].is_failure
            client.publish("bg/echo", b"echo")
            assert client.next_message().payload == b"echo"
    finally:
        assert stop(state)
    assert not (state / "mosquitto.pid").exists()
    assert not pid_running(pid)
    assert not stop(state)  # a second stop finds nothing to stop

