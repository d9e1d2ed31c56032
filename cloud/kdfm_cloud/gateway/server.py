"""The grpc.aio server: two TLS ports, message size limits, graceful shutdown.

grpc (Python) either demands a client certificate or does not ask for one at all, so the
gateway listens twice on one server:
    listen          mutual TLS: every call; the client certificate names the agent
                    (AgentGateway) or an operator listed in admin_identities (TenantAdmin)
    enroll.listen   server-authenticated TLS: only Enroll succeeds (every other call finds no
                    client certificate and is refused UNAUTHENTICATED)
Both ports re-read their certificate files when they change (grpc asks on every handshake),
so the gateway's own certificate rotates without dropping connected agents.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from kdfm_cloud.agentbroker import AgentBroker
from kdfm_cloud.agentpki import AgentSigner
from kdfm_cloud.errors import ConfigError
from kdfm_cloud.gateway.admin import TenantAdminServicer
from kdfm_cloud.gateway.servicer import GatewayServicer
from kdfm_cloud.settings import GatewaySettings, TlsSettings
from kdfm_cloud.store import Repository

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunningGateway:
    """A started gateway, the port it listens on, and its enrolment port (None: none)."""

    server: grpc.aio.Server
    port: int
    enroll_port: int | None = None


def _read(path: str, what: str) -> bytes:
    if not path:
        raise ConfigError(f"gateway.tls.{what} is not set: the gateway never serves without TLS")
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise ConfigError(f"cannot read gateway.tls.{what} {path}: {err.strerror}") from err


def _public(pem: bytes, *, key: bool) -> bytes:
    if key:
        public = serialization.load_pem_private_key(pem, password=None).public_key()
    else:
        public = x509.load_pem_x509_certificate(pem).public_key()
    return public.public_bytes(serialization.Encoding.DER,
                               serialization.PublicFormat.SubjectPublicKeyInfo)


class CertificateFiles:
    """The gateway's certificate, key and client CA, handed to grpc again whenever they change.

    A half-finished rotation (new certificate, old key) is not handed over: the old pair keeps
    serving until the files fit together.
    """

    def __init__(self, tls: TlsSettings, *, client_ca: bool) -> None:
        self._tls = tls
        self._client_ca = client_ca
        self._seen = self._stamp()
        self.initial = self._configuration()
        self.reloads = 0
        """How often new certificate files were taken up."""

    def _paths(self) -> list[str]:
        paths = [self._tls.cert_file, self._tls.key_file]
        return [*paths, self._tls.client_ca_file] if self._client_ca else paths

    def _stamp(self) -> tuple[tuple[int, int], ...]:
        stamps = []
        for path in self._paths():
            try:
                stat = Path(path).stat()
            except OSError:
                stamps.append((0, 0))
            else:
                stamps.append((stat.st_mtime_ns, stat.st_size))
        return tuple(stamps)

    def _configuration(self) -> grpc.ServerCertificateConfiguration:
        key, chain = _read(self._tls.key_file, "key_file"), _read(self._tls.cert_file, "cert_file")
        try:
            if _public(key, key=True) != _public(chain, key=False):
                raise ConfigError(f"gateway.tls.key_file {self._tls.key_file} does not belong "
                                  f"to cert_file {self._tls.cert_file}")
        except ValueError as err:
            raise ConfigError(f"gateway.tls files are not valid PEM: {err}") from err
        roots = _read(self._tls.client_ca_file, "client_ca_file") if self._client_ca else None
        return grpc.ssl_server_certificate_configuration([(key, chain)], root_certificates=roots)

    def fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """Called by grpc before each handshake: a new configuration, or None for "unchanged"."""
        stamp = self._stamp()
        if stamp == self._seen:
            return None
        try:
            configuration = self._configuration()
        except ConfigError as err:
            log.warning("gateway certificate files changed but are not usable yet: %s", err)
            return None
        self._seen = stamp
        self.reloads += 1
        log.info("gateway certificate reloaded from %s", self._tls.cert_file)
        return configuration

    def credentials(self) -> grpc.ServerCredentials:
        """Server credentials that follow the files."""
        # grpc documents None as "unchanged"; grpc-stubs types the fetcher without it.
        return grpc.dynamic_ssl_server_credentials(
            self.initial, self.fetch,  # type: ignore[arg-type]
            require_client_authentication=self._client_ca)


def server_credentials(settings: GatewaySettings) -> grpc.ServerCredentials:
    """TLS credentials that demand a client certificate signed by the client CA.

    grpc's TLS stack negotiates TLS 1.2 at least; older versions are refused (tested).
    """
    return CertificateFiles(settings.tls, client_ca=True).credentials()


def _bind(server: grpc.aio.Server, listen: str, credentials: grpc.ServerCredentials,
          what: str) -> int:
    """The port bound for `listen`; ConfigError naming the address when it cannot be had."""
    try:
        port = server.add_secure_port(listen, credentials)
    except RuntimeError as err:  # grpc raises on a failed bind ("Failed to bind ..."), or 0
        raise ConfigError(f"gateway cannot listen on {listen}{what}: the address is in use "
                          "or not an address of this host") from err
    if port == 0:
        raise ConfigError(f"gateway cannot listen on {listen}{what}")
    return port


@asynccontextmanager
async def running_gateway(settings: GatewaySettings, repository: Repository, *,
                          signer: AgentSigner | None = None, broker: AgentBroker | None = None
                          ) -> AsyncIterator[RunningGateway]:
    """Serve until the block ends, then stop with the configured grace period."""
    options = [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        # Agents poll every few minutes; let idle connections go instead of piling up.
        ("grpc.max_connection_idle_ms", 15 * 60 * 1000),
        # Workers share the port (gateway.workers); a lone gateway owns it, so a second one
        # started by mistake on the same port fails instead of silently taking half of the
        # agents' connections (grpc's default is to share).
        ("grpc.so_reuseport", 1 if settings.workers > 1 else 0),
    ]
    server = grpc.aio.server(options=options)
    port = _bind(server, settings.listen, server_credentials(settings), "")
    # Told to enrolled agents: the configured address, else the mutual-TLS port as bound.
    advertise = settings.enroll.advertise or f"{settings.listen.rsplit(':', 1)[0]}:{port}"
    servicer = GatewayServicer(repository, settings, advertise=advertise, signer=signer,
                               broker=broker)
    server.add_generic_rpc_handlers((servicer.handler(),))
    # The operator's TenantAdmin: the same mutual-TLS port, operator certificates only.
    admin = TenantAdminServicer(repository, settings, signer=signer, broker=broker)
    server.add_generic_rpc_handlers((admin.handler(),))
    enroll_port = None
    if settings.enroll.listen:
        enroll_port = _bind(server, settings.enroll.listen,
                            CertificateFiles(settings.tls, client_ca=False).credentials(),
                            " (enrolment)")
    await server.start()
    for path, bound in ((settings.port_file, port), (settings.enroll.port_file, enroll_port)):
        if path and bound is not None:
            await asyncio.to_thread(Path(path).write_text, f"{bound}\n", "utf-8")
    log.info("gateway listening on %s (port %d, mutual TLS)%s", settings.listen, port,
             f", enrolment on port {enroll_port}" if enroll_port else "")
    try:
        yield RunningGateway(server, port, enroll_port)
    finally:
        try:
            await server.stop(settings.shutdown_grace_seconds)
        finally:
            # After the stop, so in-flight uploads finish within the grace period; in a
            # thread, so the event loop is not blocked while the last one is stored.
            await asyncio.to_thread(servicer.close)
        log.info("gateway stopped")


async def serve(settings: GatewaySettings, repository: Repository, *,
                signer: AgentSigner | None = None, broker: AgentBroker | None = None) -> None:
    """Serve until SIGTERM or SIGINT, then shut down gracefully."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with running_gateway(settings, repository, signer=signer, broker=broker):
        await stop.wait()
        log.info("signal received: stopping (grace %.0f s)", settings.shutdown_grace_seconds)
