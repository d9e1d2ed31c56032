"""The gateway's own certificate rotates without dropping connected agents: grpc asks for the
certificate files before every handshake and the gateway hands over new ones when they change."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
from pathlib import Path

from cryptography import x509
from kdfm_agent.uplink.grpc import ClientTls, GatewayClient
from kdfm_cloud.gateway.server import running_gateway
from kdfm_cloud.settings import TlsSettings
from kdfm_cloud.store import SqlRepository

from .kit import Pki

TENANT, AGENT_ID = "tenant-r", "agent-r"


def _served_serial(port: int, pki: Pki) -> int:
    cert, key = pki.agent_files(TENANT, AGENT_ID)
    context = ssl.create_default_context(cafile=str(pki.ca_file))
    context.load_cert_chain(cert, key)
    context.set_alpn_protocols(["h2"])
    with socket.create_connection(("127.0.0.1", port), timeout=20) as raw, \
            context.wrap_socket(raw, server_hostname="localhost") as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


async def test_rotation_keeps_connections_and_serves_the_new_certificate(
        repository: SqlRepository, pki: Pki, tmp_path: Path) -> None:
    cert, key = tmp_path / "gateway.crt", tmp_path / "gateway.key"
    shutil.copy(pki.server_cert, cert)
    shutil.copy(pki.server_key, key)
    settings = pki.gateway_settings(tls=TlsSettings(cert_file=str(cert), key_file=str(key),
                                                    client_ca_file=str(pki.ca_file)))
    issued = pki.agent(TENANT, AGENT_ID)
    tls = ClientTls(pki.ca.cert_pem, issued.cert_pem, issued.key_pem)
    old_serial = x509.load_pem_x509_certificate(cert.read_bytes()).serial_number
    async with running_gateway(settings, repository) as running:
        address = f"127.0.0.1:{running.port}"
        async with GatewayClient(address, TENANT, AGENT_ID, tls, server_name="localhost",
                                 timeout_seconds=20) as connected:
            await connected.poll()
            assert await asyncio.to_thread(_served_serial, running.port, pki) == old_serial

            new = pki.ca.issue_server()
            # Half-way (new key, old certificate): the old pair keeps serving.
            key.write_bytes(new.key_pem)
            assert await asyncio.to_thread(_served_serial, running.port, pki) == old_serial
            cert.write_bytes(new.cert_pem)
            new_serial = x509.load_pem_x509_certificate(new.cert_pem).serial_number
            assert await asyncio.to_thread(_served_serial, running.port, pki) == new_serial

            # The agent connected before the rotation was not dropped.
            await connected.poll()
        async with GatewayClient(address, TENANT, AGENT_ID, tls, server_name="localhost",
                                 timeout_seconds=20) as fresh:
            await fresh.poll()
