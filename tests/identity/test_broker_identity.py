"""The broker's agent listener: a certificate is required and names the agent; TLS 1.2 at least;
and a restarted dev-stack broker keeps the CA its clients trust and its accounts."""

from __future__ import annotations

import socket
import ssl
import warnings
from pathlib import Path

import pytest
from harness.mqtt import connected_client
from kdfm_cloud.devstack.mosquitto import BrokerConfig, running_broker
from kdfm_cloud.pki import CertificateAuthority
from kdfm_cloud.store import AgentKey

pytestmark = [pytest.mark.mqtt]

MQTT311_CONNECT = bytes([0x10, 0x10, 0x00, 0x04]) + b"MQTT" + bytes(
    [0x04, 0x02, 0x00, 0x3C, 0x00, 0x04]) + b"kdfm"


def _context(ca: Path, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca))
    if cert is not None:
        context.load_cert_chain(cert, key)
    return context


def _mqtt_connect(host: str, port: int, context: ssl.SSLContext) -> bytes:
    """CONNECT over TLS; answers the first bytes of the reply (b"" when dropped)."""
    try:
        with socket.create_connection((host, port), timeout=20) as raw, \
                context.wrap_socket(raw, server_hostname=host) as tls:
            tls.sendall(MQTT311_CONNECT)
            return tls.recv(4)
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        return b""


def test_agent_listener_wants_a_certificate_from_the_agent_ca(tmp_path: Path) -> None:
    agents_ca, rogue_ca = CertificateAuthority.create("agents"), CertificateAuthority.create("x")
    (tmp_path / "agents.pem").write_bytes(agents_ca.cert_pem)
    good = agents_ca.issue_agent(AgentKey("t", "agent-1")).write(tmp_path, "good")
    rogue = rogue_ca.issue_agent(AgentKey("t", "agent-1")).write(tmp_path, "rogue")
    with running_broker(BrokerConfig(agent_ca_file=str(tmp_path / "agents.pem")),
                        work_dir=tmp_path / "broker") as broker:
        assert broker.agent_port is not None
        port = broker.agent_port
        broker.add_client("agent-1", "unused-password", subscribe=["kdfm/#"])
        # CONNACK 0x20, return code 0: the certificate alone logs the agent in.
        assert _mqtt_connect(broker.host, port, _context(broker.ca_cert, *good)) == \
            b"\x20\x02\x00\x00"
        assert not _mqtt_connect(broker.host, port, _context(broker.ca_cert)).startswith(b"\x20")
        assert not _mqtt_connect(broker.host, port,
                                 _context(broker.ca_cert, *rogue)).startswith(b"\x20")
        with socket.create_connection((broker.host, port), timeout=10) as sock:
            sock.sendall(MQTT311_CONNECT)
            try:
                reply = sock.recv(64)
            except ConnectionResetError:
                reply = b""
        assert not reply.startswith(b"\x20")  # plaintext: no CONNACK
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old.load_verify_locations(str(broker.ca_cert))
        old.load_cert_chain(*good)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            old.minimum_version = ssl.TLSVersion.TLSv1
            old.maximum_version = ssl.TLSVersion.TLSv1_1
        old.set_ciphers("DEFAULT:@SECLEVEL=0")
        with socket.create_connection((broker.host, port), timeout=10) as sock, \
                pytest.raises(ssl.SSLError):
            old.wrap_socket(sock, server_hostname=broker.host)


def test_a_restarted_broker_keeps_its_tls_material(tmp_path: Path) -> None:
    work = tmp_path / "broker"
    with running_broker(work_dir=work) as first:
        ca_before = first.ca_cert.read_bytes()
        trusted = first.ca_cert.with_name("trusted-by-clients.pem")
        trusted.write_bytes(ca_before)
        first.add_client("c1", "pw-1", subscribe=["x/#"])
    with running_broker(work_dir=work) as second:
        assert second.ca_cert.read_bytes() == ca_before
        second.add_client("c2", "pw-2", subscribe=["x/#"])
        # A client that kept the old CA file trusts the restarted broker.
        with connected_client(second, "c2", "pw-2",
                              tls_context=_context(trusted)):
            pass
        with connected_client(second, "c1", "pw-1"):
            pass  # accounts survive a restart too (dynamic-security state kept in work_dir)
