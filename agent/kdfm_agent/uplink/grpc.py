"""`async with GatewayClient(...)`: the agent's mutual-TLS channel to kdfm.v1.AgentGateway.

The agent always dials out; an HTTPS proxy is used when configured (grpc.http_proxy) or
when the environment says so (https_proxy, which grpc honours by itself).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import grpc
from kdfm_proto.v1 import gateway_pb2, gateway_pb2_grpc, reading_pb2

from kdfm_agent.uplink.errors import GatewayRefusedError, GatewayUnavailableError, UplinkError

# Codes after which the same call may succeed later; everything else is a refusal.
_RETRYABLE = {
    grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.ABORTED,
    grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.CANCELLED,
}


@dataclass(frozen=True, slots=True)
class ClientTls:
    """The agent's TLS material, PEM-encoded."""

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes


class GatewayClient:
    """Calls of kdfm.v1.AgentGateway on one secure channel, as one agent."""

    def __init__(self, address: str, tenant: str, agent_id: str, tls: ClientTls, *,
                 timeout_seconds: float = 30.0, max_message_bytes: int = 4 * 1024 * 1024,
                 server_name: str = "", proxy: str = "", agent_version: str = "") -> None:
        self._address = address
        self._ref = gateway_pb2.AgentRef(tenant=tenant, agent_id=agent_id)
        self._tls = tls
        self._timeout = timeout_seconds
        self._agent_version = agent_version
        self._options: list[tuple[str, Any]] = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ]
        if server_name:
            self._options.append(("grpc.ssl_target_name_override", server_name))
        if proxy:
            self._options.append(("grpc.http_proxy", proxy))
        self._channel: grpc.aio.Channel | None = None
        self._stub: gateway_pb2_grpc.AgentGatewayStub | None = None

    def _open(self) -> None:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=self._tls.ca_pem, private_key=self._tls.key_pem,
            certificate_chain=self._tls.cert_pem)
        self._channel = grpc.aio.secure_channel(self._address, credentials,
                                                options=self._options)
        self._stub = gateway_pb2_grpc.AgentGatewayStub(self._channel)

    async def __aenter__(self) -> GatewayClient:
        self._open()
        return self

    async def use_tls(self, tls: ClientTls, grace_seconds: float = 10.0) -> None:
        """Dial with new TLS material (a renewed certificate) from the next call on.

        Calls already running on the old channel get `grace_seconds` to finish.
        """
        old = self._channel
        self._tls = tls
        self._open()
        if old is not None:
            await old.close(grace_seconds)

    async def renew(self, csr_pem: bytes) -> gateway_pb2.EnrollResponse:
        """Ask for a new certificate for the key behind `csr_pem`, over this mutual-TLS channel."""
        response: gateway_pb2.EnrollResponse = await self._call(
            self._gateway.RenewCertificate,
            gateway_pb2.RenewCertificateRequest(agent=self._ref, csr_pem=csr_pem))
        return response

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._channel is not None:
            await self._channel.close(None)
        self._channel = self._stub = None

    @property
    def _gateway(self) -> gateway_pb2_grpc.AgentGatewayStub:
        if self._stub is None:
            raise UplinkError("GatewayClient used outside `async with`")
        return self._stub

    async def _call(self, method: Any, request: Any) -> Any:
        try:
            return await method(request, timeout=self._timeout)
        except grpc.aio.AioRpcError as err:
            text = f"gateway {self._address}: {err.code().name}: {err.details()}"
            if err.code() in _RETRYABLE:
                raise GatewayUnavailableError(text) from err
            raise GatewayRefusedError(text) from err

    async def poll(self, config_version: int = 0, spooled: int = 0) -> gateway_pb2.PollResponse:
        """Ask for tasks, the next poll interval and a changed configuration."""
        response: gateway_pb2.PollResponse = await self._call(
            self._gateway.Poll, gateway_pb2.PollRequest(
                agent=self._ref, agent_version=self._agent_version,
                config_version=config_version, spooled_readings=spooled))
        return response

    async def upload(self, readings: Sequence[reading_pb2.Reading]
                     ) -> gateway_pb2.UploadReadingsResponse:
        """Hand over one batch of readings; answers what was acknowledged and rejected."""
        response: gateway_pb2.UploadReadingsResponse = await self._call(
            self._gateway.UploadReadings,
            gateway_pb2.UploadReadingsRequest(agent=self._ref, readings=readings))
        return response

    async def report(self, task_id: str, outcome: int,
                     message: str = "") -> None:
        """Say how a task ended."""
        await self._call(self._gateway.ReportTaskResult, gateway_pb2.ReportTaskResultRequest(
            agent=self._ref, task_id=task_id, outcome=outcome,  # type: ignore[arg-type]
            message=message))
