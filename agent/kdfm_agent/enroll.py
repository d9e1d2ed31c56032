"""Enrollment: trade a one-time activation code and a CSR for the agent's client certificate.

The private key is made here and never leaves the machine. The call runs over server-authenticated
TLS (the agent has no client certificate yet). A refusal counts toward the lockout before the error
is reported; a gateway that cannot be reached does not (that is not an activation attempt).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

import grpc
from kdfm_proto.v1 import gateway_pb2, gateway_pb2_grpc

from kdfm_agent import __version__, identity, lockout
from kdfm_agent.errors import AgentError

_UNSPECIFIED_HOSTS = ("", "0.0.0.0", "::", "[::]")

# What the gateway answers when it will not activate with this code. It never says which of
# "unknown", "expired" or "burned" applies, so all of them count the same.
REFUSALS = frozenset({
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.FAILED_PRECONDITION,
})


class ActivationRefusedError(AgentError):
    """The gateway refused the activation code; counted toward the 5-attempt lockout."""

    def __init__(self, message: str, state: lockout.Lockout) -> None:
        super().__init__(message)
        self.state = state


class GatewayUnreachableError(AgentError):
    """The gateway could not be reached or failed; not counted as an activation attempt."""

    retryable = True


@dataclass(frozen=True, slots=True)
class EnrollRequest:
    """What an enrollment needs: where the gateway is and what to trust for it."""

    gateway: str
    code: str
    ca_bundle_pem: bytes
    state_dir: Path
    hostname: str = socket.gethostname()
    timeout_seconds: float = 30.0


async def enroll(request: EnrollRequest) -> identity.AgentRecord:
    """Enroll once; raises AgentDisabledError, ActivationRefusedError or GatewayUnreachableError."""
    lockout.ensure_enabled(request.state_dir)
    existing = identity.load_identity(request.state_dir)
    if existing is not None and existing.valid_at():
        raise identity.IdentityError(
            f"already enrolled as agent {existing.record.agent_id} of tenant "
            f"{existing.record.tenant}; run `kdfm-agent reset` to re-provision")
    key = identity.new_private_key()
    message = gateway_pb2.EnrollRequest(
        activation_code=request.code, csr_pem=identity.build_csr(key, request.hostname),
        hostname=request.hostname, agent_version=__version__,
    )
    credentials = grpc.ssl_channel_credentials(root_certificates=request.ca_bundle_pem)
    async with grpc.aio.secure_channel(request.gateway, credentials) as channel:
        stub = gateway_pb2_grpc.AgentGatewayStub(channel)
        try:
            response = await stub.Enroll(message, timeout=request.timeout_seconds)
        except grpc.aio.AioRpcError as err:
            raise _classify(err, request.state_dir, request.gateway) from None
    record = identity.AgentRecord(agent_id=response.agent.agent_id, tenant=response.agent.tenant,
                                  gateway=mutual_tls_address(request.gateway, response.gateway),
                                  enrolled_via=request.gateway)
    identity.save_identity(request.state_dir, record, key,
                           response.certificate_pem + response.chain_pem, response.ca_bundle_pem)
    lockout.clear(request.state_dir)
    return record


def mutual_tls_address(enrolled_at: str, found: str) -> str:
    """Where the gateway said to dial with the certificate; the enrolment address if it did not.

    A gateway listening on every interface advertises 0.0.0.0: the host we reached it by is
    the one that works, with the advertised port.
    """
    if not found:
        return enrolled_at
    host, _, port = found.rpartition(":")
    if host in _UNSPECIFIED_HOSTS:
        return f"{enrolled_at.rpartition(':')[0]}:{port}"
    return found


def _classify(err: grpc.aio.AioRpcError, state_dir: Path, gateway: str) -> AgentError:
    code = err.code()
    if code in REFUSALS:
        state = lockout.record_failure(state_dir, f"gateway answered {code.name}")
        if state.disabled:
            return ActivationRefusedError(state.reason or "the agent is disabled", state)
        left = lockout.MAX_FAILED_ACTIVATIONS - state.failed_attempts
        return ActivationRefusedError(
            f"the gateway refused the activation code ({code.name}: {err.details()}); "
            f"{left} attempt(s) left before the agent disables itself", state)
    return GatewayUnreachableError(f"gateway {gateway} failed: {code.name}: {err.details()}")
