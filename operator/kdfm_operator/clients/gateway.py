"""The gateway's TenantAdmin API over grpc.aio with mutual TLS: the only gateway I/O.

The operator proves who it is with a client certificate (URI SAN kdfm://operator/<name>, from a
mounted kubernetes.io/tls Secret of a VaultCertificate) issued by the CA the gateway trusts for
client certificates; the gateway must list the name in gateway.admin_identities. grpc's TLS
stack offers TLS 1.2 and 1.3 only. Every grpc status is translated here into
GatewayUnavailableError (retry) or GatewayRefusedError (the same request will be refused again).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc
from kdfm_proto.v1 import admin_pb2, admin_pb2_grpc

from kdfm_operator.errors import (
    DependencyNotReadyError,
    GatewayRefusedError,
    GatewayUnavailableError,
)
from kdfm_operator.reconcile.tenant import GatewayOutcome, GatewayTenant

# Worth another try later: the gateway or the network is away, or the call was cut short.
_RETRYABLE = frozenset({
    grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.ABORTED,
    grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.CANCELLED,
})


@dataclass(frozen=True)
class Retired:
    """The gateway's answer to RetireTenant."""

    revoked_agents: tuple[str, ...]
    incomplete: tuple[str, ...]
    """Steps outside the gateway's store that failed (Vault CRL, broker); retiring retries."""


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        # The Secret of a VaultCertificate still being issued: it will be mounted later.
        raise DependencyNotReadyError(
            f"cannot read the gateway client {what} {path}: {err.strerror}"
        ) from err


class GatewayClient:
    """``async with GatewayClient(...) as gateway:`` one channel for a few calls."""

    def __init__(
        self,
        address: str,
        *,
        cert_file: Path,
        key_file: Path,
        ca_file: Path,
        timeout_s: float,
        server_name: str = "",
    ) -> None:
        self.address = address
        self._files = (cert_file, key_file, ca_file)
        self._timeout = timeout_s
        self._server_name = server_name
        self._channel: grpc.aio.Channel | None = None
        self._stub: admin_pb2_grpc.TenantAdminStub | None = None

    async def __aenter__(self) -> GatewayClient:
        cert_file, key_file, ca_file = self._files
        credentials = grpc.ssl_channel_credentials(
            root_certificates=_read(ca_file, "CA bundle"),
            private_key=_read(key_file, "key"),
            certificate_chain=_read(cert_file, "certificate"),
        )
        options: list[tuple[str, Any]] = []
        if self._server_name:
            options.append(("grpc.ssl_target_name_override", self._server_name))
        self._channel = grpc.aio.secure_channel(self.address, credentials, options=options)
        self._stub = admin_pb2_grpc.TenantAdminStub(self._channel)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._channel is not None:
            await self._channel.close(None)
        self._channel, self._stub = None, None

    def _translate(self, what: str, err: grpc.aio.AioRpcError) -> Exception:
        detail = f"gateway {self.address} {err.code().name}: {err.details()}"
        if err.code() in _RETRYABLE:
            return GatewayUnavailableError(f"cannot {what}: {detail}")
        return GatewayRefusedError(f"{what} refused: {detail}")

    async def apply(self, record: GatewayTenant) -> GatewayOutcome:
        """Make the gateway's tenant what the record says; answers its view of the tenant."""
        assert self._stub is not None, "use `async with GatewayClient(...)`"
        request = admin_pb2.ApplyTenantRequest(
            tenant=record.tenant,
            region=record.region,
            max_agents=record.max_agents,
            max_devices=record.max_devices,
        )
        if record.signed_by is not None and record.signed_at is not None:
            request.agreement.signed_by = record.signed_by
            request.agreement.signed_at.FromDatetime(
                record.signed_at.astimezone(UTC).replace(tzinfo=None)
            )
            request.agreement.document_ref = record.document_ref or ""
        try:
            answer = await self._stub.ApplyTenant(request, timeout=self._timeout)
        except grpc.aio.AioRpcError as err:
            raise self._translate(f"apply tenant {record.tenant}", err) from err
        return GatewayOutcome(
            active=answer.active,
            agents=answer.agents,
            devices=answer.devices,
            inactive_reason=answer.inactive_reason,
        )

    async def retire(self, tenant: str) -> Retired | None:
        """Retire the tenant; None when the gateway never had it (nothing to retire)."""
        assert self._stub is not None, "use `async with GatewayClient(...)`"
        try:
            answer = await self._stub.RetireTenant(
                admin_pb2.RetireTenantRequest(tenant=tenant), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise self._translate(f"retire tenant {tenant}", err) from err
        return Retired(tuple(answer.revoked_agents), tuple(answer.incomplete))
