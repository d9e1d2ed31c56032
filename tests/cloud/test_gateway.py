"""The AgentGateway over real mutual TLS on loopback, with the agent's own client."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from datetime import datetime
from typing import Any, cast

import grpc
import pytest
from kdfm_agent.uplink.errors import GatewayRefusedError, GatewayUnavailableError
from kdfm_agent.uplink.grpc import ClientTls, GatewayClient
from kdfm_cloud.errors import ConfigError
from kdfm_cloud.gateway.server import running_gateway
from kdfm_cloud.pki import CertificateAuthority
from kdfm_cloud.settings import GatewaySettings
from kdfm_cloud.store import AgentKey, Repository, SqlRepository, StoreOutcome
from kdfm_proto.v1 import gateway_pb2, reading_pb2

from .conftest import MakeReading
from .kit import Pki

AGENT = AgentKey("tenant-a", "agent-1")


def client_tls(pki: Pki, tenant: str = AGENT.tenant, agent_id: str = AGENT.agent_id
               ) -> ClientTls:
    issued = pki.agent(tenant, agent_id)
    return ClientTls(pki.ca.cert_pem, issued.cert_pem, issued.key_pem)


def run_with_gateway(repository: SqlRepository, settings: GatewaySettings,
                     body: Callable[[str], Awaitable[None]]) -> None:
    async def main() -> None:
        async with running_gateway(settings, repository) as gateway:
            await body(f"127.0.0.1:{gateway.port}")

    asyncio.run(main())


def client(address: str, pki: Pki, tenant: str = AGENT.tenant,
           agent_id: str = AGENT.agent_id) -> GatewayClient:
    return GatewayClient(address, tenant, agent_id, client_tls(pki, tenant, agent_id),
                         server_name="localhost", timeout_seconds=20)


def test_poll_hands_out_tasks_interval_and_changed_config(repository: SqlRepository,
                                                          pki: Pki) -> None:
    task = repository.queue_task(AGENT, gateway_pb2.Task(read_now=gateway_pb2.ReadNow()))
    repository.set_config(AGENT, gateway_pb2.AgentConfig(targets=["10.1.0.0/24"]))

    async def body(address: str) -> None:
        async with client(address, pki) as gateway:
            first = await gateway.poll(config_version=0, spooled=3)
            assert [t.task_id for t in first.tasks] == [task.task_id]
            assert first.next_poll_seconds == 300
            assert first.HasField("config") and first.config.version == 1
            second = await gateway.poll(config_version=1)
            assert list(second.tasks) == [] and not second.HasField("config")

    run_with_gateway(repository, pki.gateway_settings(), body)
    assert repository.task_state(task.task_id) == "delivered"


def test_upload_acknowledges_stored_and_replayed_and_rejects_invalid(
        repository: SqlRepository, pki: Pki, make_reading: MakeReading) -> None:
    readings = [make_reading(f"u-{i}") for i in range(5)]
    invalid = make_reading("no-time")
    invalid.ClearField("collected_at")

    async def body(address: str) -> None:
        async with client(address, pki) as gateway:
            first = await gateway.upload([*readings[:3], invalid])
            assert list(first.acknowledged) == ["u-0", "u-1", "u-2"]
            assert [(r.reading_id, r.reason) for r in first.rejected] == [
                ("no-time", "reading has no collected_at")]
            second = await gateway.upload(readings)
            assert sorted(second.acknowledged) == [f"u-{i}" for i in range(5)]

    run_with_gateway(repository, pki.gateway_settings(), body)
    assert sorted(repository.reading_ids()) == [f"u-{i}" for i in range(5)]


class HeldStore:
    """The real repository, whose store_readings waits until the test lets it go on."""

    def __init__(self, repository: SqlRepository) -> None:
        self._repository = repository
        self.entered, self.release = threading.Event(), threading.Event()

    def store_readings(self, agent: AgentKey, readings: Sequence[reading_pb2.Reading],
                       received_at: datetime) -> StoreOutcome:
        self.entered.set()
        assert self.release.wait(120), "the test never released the store"
        return self._repository.store_readings(agent, readings, received_at)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._repository, name)


def _upload_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("kdfm-upload")}


def test_an_upload_in_flight_finishes_and_the_upload_thread_ends_with_the_gateway(
        repository: SqlRepository, pki: Pki, make_reading: MakeReading) -> None:
    before = _upload_threads()
    held = HeldStore(repository)
    reading = make_reading("in-flight")
    # A grace period far longer than the store is held: the stop waits for the upload.
    settings = pki.gateway_settings(shutdown_grace_seconds=120.0)

    async def main() -> set[threading.Thread]:
        async with AsyncExitStack() as stack:
            async with running_gateway(settings, cast(Repository, held)) as running:
                gateway = await stack.enter_async_context(
                    client(f"127.0.0.1:{running.port}", pki))
                upload = asyncio.create_task(gateway.upload([reading]))
                assert await asyncio.to_thread(held.entered.wait, 60)
                during = _upload_threads() - before
                # Let go only once the gateway is stopping (the block ends right after this).
                asyncio.get_running_loop().call_later(0.2, held.release.set)
            # Asked while the server (and so the servicer) is still referenced: a thread of
            # a collected executor would end anyway, and the test would prove nothing.
            assert during and not any(t.is_alive() for t in during), running
            response = await upload
        assert list(response.acknowledged) == ["in-flight"]
        return during

    during = asyncio.run(main())
    assert during, "the upload ran on the uploads' own thread"
    assert not any(t.is_alive() for t in during)
    assert _upload_threads() <= before
    assert repository.reading_ids() == ["in-flight"]


@pytest.mark.parametrize("ref", [
    gateway_pb2.AgentRef(tenant="tenant-a", agent_id="agent-2"),
    gateway_pb2.AgentRef(tenant="tenant-b", agent_id="agent-1"),
    gateway_pb2.AgentRef(),
])
def test_an_agent_cannot_act_for_another(repository: SqlRepository, pki: Pki,
                                         make_reading: MakeReading,
                                         ref: gateway_pb2.AgentRef) -> None:
    other = AgentKey(ref.tenant or "tenant-a", ref.agent_id or "agent-2")
    task = repository.queue_task(other, gateway_pb2.Task(read_now=gateway_pb2.ReadNow()))

    async def body(address: str) -> None:
        async with client(address, pki) as gateway:
            gateway._ref = ref  # forge what a compromised agent would send
            with pytest.raises(GatewayRefusedError, match="PERMISSION_DENIED"):
                await gateway.upload([make_reading("forged")])
            with pytest.raises(GatewayRefusedError, match="PERMISSION_DENIED"):
                await gateway.poll()
            with pytest.raises(GatewayRefusedError, match="PERMISSION_DENIED"):
                await gateway.report(task.task_id, gateway_pb2.TASK_OUTCOME_SUCCEEDED)

    run_with_gateway(repository, pki.gateway_settings(), body)
    assert repository.reading_ids() == []
    assert repository.task_state(task.task_id) == "queued"
    assert repository.devices() == []


def test_a_task_of_another_agent_is_not_found(repository: SqlRepository, pki: Pki) -> None:
    task = repository.queue_task(AgentKey("tenant-a", "agent-2"),
                                 gateway_pb2.Task(read_now=gateway_pb2.ReadNow()))

    async def body(address: str) -> None:
        async with client(address, pki) as gateway:
            with pytest.raises(GatewayRefusedError, match="NOT_FOUND"):
                await gateway.report(task.task_id, gateway_pb2.TASK_OUTCOME_SUCCEEDED)

    run_with_gateway(repository, pki.gateway_settings(), body)
    assert repository.task_state(task.task_id) == "queued"


def test_report_task_result(repository: SqlRepository, pki: Pki) -> None:
    task = repository.queue_task(AGENT, gateway_pb2.Task(read_now=gateway_pb2.ReadNow()))

    async def body(address: str) -> None:
        async with client(address, pki) as gateway:
            await gateway.poll()
            await gateway.report(task.task_id, gateway_pb2.TASK_OUTCOME_FAILED, "no route")

    run_with_gateway(repository, pki.gateway_settings(), body)
    assert repository.task_state(task.task_id) == "failed"


def test_a_certificate_from_another_ca_is_refused(repository: SqlRepository, pki: Pki,
                                                  tmp_path: Any) -> None:
    rogue = CertificateAuthority.create("rogue CA").issue_agent(AGENT)

    async def body(address: str) -> None:
        tls = ClientTls(pki.ca.cert_pem, rogue.cert_pem, rogue.key_pem)
        async with GatewayClient(address, AGENT.tenant, AGENT.agent_id, tls,
                                 server_name="localhost", timeout_seconds=5) as gateway:
            with pytest.raises(GatewayUnavailableError):
                await gateway.poll()

    run_with_gateway(repository, pki.gateway_settings(), body)
    assert repository.devices() == []


async def _raw_call(address: str, pki: Pki, method: str, payload: bytes) -> bytes:
    issued = pki.agent(AGENT.tenant, AGENT.agent_id)
    credentials = grpc.ssl_channel_credentials(pki.ca.cert_pem, issued.key_pem,
                                               issued.cert_pem)
    async with grpc.aio.secure_channel(
            address, credentials, options=[("grpc.ssl_target_name_override", "localhost"),
                                           ("grpc.max_send_message_length", 64 << 20)]
    ) as channel:
        call = channel.unary_unary(f"/kdfm.v1.AgentGateway/{method}")
        result: bytes = await call(payload, timeout=20)
        return result


def test_malformed_and_oversized_requests_are_refused_and_the_server_stays_up(
        repository: SqlRepository, pki: Pki) -> None:
    async def body(address: str) -> None:
        with pytest.raises(grpc.aio.AioRpcError) as malformed:
            await _raw_call(address, pki, "UploadReadings", b"\xff\xff\xff\xff")
        assert malformed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "kdfm.v1.UploadReadingsRequest" in (malformed.value.details() or "")

        with pytest.raises(grpc.aio.AioRpcError) as oversized:
            await _raw_call(address, pki, "UploadReadings", b"\x00" * (70 * 1024))
        assert oversized.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

        with pytest.raises(grpc.aio.AioRpcError) as enroll:
            await _raw_call(address, pki, "Enroll", b"")
        assert enroll.value.code() == grpc.StatusCode.UNIMPLEMENTED

        async with client(address, pki) as gateway:
            assert (await gateway.poll()).next_poll_seconds == 300

    run_with_gateway(repository, pki.gateway_settings(max_message_bytes=64 * 1024), body)


def _handshake(port: int, pki: Pki, version: ssl.TLSVersion) -> str:
    cert, key = pki.agent_files(AGENT.tenant, AGENT.agent_id)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=pki.ca.cert_pem.decode())
    context.load_cert_chain(cert, key)
    context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    context.maximum_version = version
    # Let the client offer old protocols at all; the server must be the one to refuse.
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    context.set_alpn_protocols(["h2"])
    with socket.create_connection(("127.0.0.1", port), timeout=20) as raw, \
            context.wrap_socket(raw, server_hostname="localhost") as tls:
        return str(tls.version())


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated")
def test_tls_below_1_2_is_refused(repository: SqlRepository, pki: Pki) -> None:
    async def body(address: str) -> None:
        port = int(address.rsplit(":", 1)[1])
        assert await asyncio.to_thread(_handshake, port, pki, ssl.TLSVersion.TLSv1_3) in (
            "TLSv1.2", "TLSv1.3")
        assert await asyncio.to_thread(_handshake, port, pki, ssl.TLSVersion.TLSv1_2) == \
            "TLSv1.2"
        with pytest.raises((ssl.SSLError, OSError)):
            await asyncio.to_thread(_handshake, port, pki, ssl.TLSVersion.TLSv1_1)

    run_with_gateway(repository, pki.gateway_settings(), body)


def test_a_second_gateway_on_the_same_port_is_refused(repository: SqlRepository,
                                                      pki: Pki) -> None:
    # grpc lets sockets share a port by default (SO_REUSEPORT): a second gateway started by
    # mistake would silently take half of the agents' connections.
    async def body(address: str) -> None:
        second = pki.gateway_settings(listen=address)
        with pytest.raises(ConfigError, match=f"gateway cannot listen on {address}"):
            async with running_gateway(second, repository):
                pass
        async with client(address, pki) as gateway:  # the first one still serves
            assert (await gateway.poll()).next_poll_seconds == 300

    run_with_gateway(repository, pki.gateway_settings(), body)
