"""The operator's gateway client against a real gateway with real OpenBao enrolment: the Tenant's
region, agreement (with its document reference) and quotas reach the store, and the gateway acts
on them (Enroll, Poll); a retired tenant is refused for good, its name included."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from kdfm_cloud.devstack.openbao import Vault
from kdfm_cloud.gateway.server import running_gateway
from kdfm_cloud.store import AgentKey
from kdfm_cloud.tenants import TrustError
from kdfm_operator.clients.gateway import GatewayClient
from kdfm_operator.errors import GatewayRefusedError, GatewayUnavailableError
from kdfm_operator.reconcile.tenant import GatewayTenant
from kdfm_proto.v1 import admin_pb2, admin_pb2_grpc, gateway_pb2, gateway_pb2_grpc

from ..identity.kit import TrustKit, make_kit, operator_identity
from .kit import build_reading, free_tcp_port

pytestmark = [pytest.mark.vault]
SIGNED_AT = datetime(2026, 3, 2, 9, 15, tzinfo=UTC)


def record(tenant: str, *, signed: bool = True, max_agents: int = 3,
           max_devices: int = 10, region: str = "eu-central") -> GatewayTenant:
    return GatewayTenant(tenant=tenant, region=region,
                         signed_by="Erika Mustermann" if signed else None,
                         signed_at=SIGNED_AT if signed else None,
                         document_ref="DPA-1" if signed else None,
                         max_agents=max_agents, max_devices=max_devices)


@dataclasses.dataclass
class Enrolled:
    agent: AgentKey
    cert_pem: bytes
    key_pem: bytes


async def enroll(address: str, ca_pem: bytes, code: str
                 ) -> tuple[grpc.StatusCode, Enrolled | None]:
    """A real enrolment: a key made here, a CSR, Enroll on the server-authenticated port."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "probe")]))
           .sign(key, hashes.SHA256()))
    async with grpc.aio.secure_channel(address, grpc.ssl_channel_credentials(ca_pem)) as ch:
        try:
            answer = await gateway_pb2_grpc.AgentGatewayStub(ch).Enroll(
                gateway_pb2.EnrollRequest(activation_code=code, hostname="probe",
                                          csr_pem=csr.public_bytes(serialization.Encoding.PEM)),
                timeout=30)
        except grpc.aio.AioRpcError as err:
            return err.code(), None
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return grpc.StatusCode.OK, Enrolled(AgentKey(answer.agent.tenant, answer.agent.agent_id),
                                        answer.certificate_pem + answer.chain_pem, key_pem)


def mutual(address: str, kit: TrustKit, cert_pem: bytes, key_pem: bytes) -> grpc.aio.Channel:
    return grpc.aio.secure_channel(address, grpc.ssl_channel_credentials(
        kit.pki_bundle.read_bytes(), private_key=key_pem, certificate_chain=cert_pem))


async def test_tenant_admin_drives_enrolment_quotas_and_retirement(vault: Vault,
                                                                   tmp_path: Path) -> None:
    kit = make_kit(tmp_path / "kit", vault)
    settings = dataclasses.replace(kit.settings, admin_identities=("platform",))
    cert, key = operator_identity(vault, tmp_path, "platform")
    tenant = f"sync-{uuid.uuid4().hex[:6]}"
    trust = kit.repository.trust
    ca_pem = kit.ca_bundle.read_bytes()
    async with running_gateway(settings, kit.repository, signer=kit.signer) as gateway:
        address, enroll_address = f"127.0.0.1:{gateway.port}", f"127.0.0.1:{gateway.enroll_port}"
        client = GatewayClient(address, cert_file=cert, key_file=key, ca_file=kit.pki_bundle,
                               timeout_s=30)
        async with client as admin:
            # Apply: the store shows region, agreement and quotas; applying again is a no-op.
            outcome = await admin.apply(record(tenant))
            assert outcome.active and (outcome.agents, outcome.devices) == (0, 0)
            assert await admin.apply(record(tenant)) == outcome
            row = trust.tenant(tenant)
            assert row is not None
            assert (row.region, row.dpa_signed_by, row.dpa_signed_at, row.dpa_document_ref) == (
                "eu-central", "Erika Mustermann", SIGNED_AT, "DPA-1")
            assert (row.max_agents, row.max_devices) == (3, 10)
            code = kit.code(tenant)

            # The agreement withdrawn on the CR: the gateway refuses the code, and no new ones.
            unsigned = await admin.apply(record(tenant, signed=False))
            assert not unsigned.active and "agreement" in unsigned.inactive_reason
            assert await enroll(enroll_address, ca_pem, code) == (
                grpc.StatusCode.UNAUTHENTICATED, None)
            with pytest.raises(TrustError, match="data-processing agreement"):
                kit.code(tenant)

            # Signed on the CR: the same code works.
            assert (await admin.apply(record(tenant))).active
            status, first = await enroll(enroll_address, ca_pem, code)
            assert status == grpc.StatusCode.OK and first is not None
            assert first.agent.tenant == tenant

            # Quota lowered to the one agent there is: the next enrolment is refused, said so.
            lowered = await admin.apply(record(tenant, max_agents=1))
            assert lowered.agents == 1 and trust.tenant(tenant).max_agents == 1  # type: ignore[union-attr]
            second = kit.code(tenant)
            assert (await enroll(enroll_address, ca_pem, second))[0] == \
                grpc.StatusCode.RESOURCE_EXHAUSTED

            # A region change is refused by the gateway, and the store keeps the old region.
            with pytest.raises(GatewayRefusedError, match=r"FAILED_PRECONDITION.*eu-central"):
                await admin.apply(record(tenant, region="eu-west", max_agents=7))
            row = trust.tenant(tenant)
            assert row is not None and (row.region, row.max_agents) == ("eu-central", 1)

            # The agent uploads a reading (billing record) before its tenant is retired.
            async with mutual(address, kit, first.cert_pem, first.key_pem) as channel:
                agent_stub = gateway_pb2_grpc.AgentGatewayStub(channel)
                ref = gateway_pb2.AgentRef(tenant=tenant, agent_id=first.agent.agent_id)
                uploaded = await agent_stub.UploadReadings(gateway_pb2.UploadReadingsRequest(
                    agent=ref, readings=[build_reading()]), timeout=30)
                assert len(uploaded.acknowledged) == 1
                # The agent's certificate on the admin API: refused before anything is read.
                with pytest.raises(grpc.aio.AioRpcError) as denied:
                    await admin_pb2_grpc.TenantAdminStub(channel).ApplyTenant(
                        admin_pb2.ApplyTenantRequest(tenant=tenant, region="eu-central"),
                        timeout=30)
                assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
                assert "operators only" in (denied.value.details() or "")

                retired = await admin.retire(tenant)
                assert retired is not None and retired.revoked_agents == (first.agent.agent_id,)
                assert retired.incomplete == ()
                # Retired: the agent is refused on its next call, its codes are dead.
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await agent_stub.Poll(gateway_pb2.PollRequest(agent=ref), timeout=30)
                assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert (await enroll(enroll_address, ca_pem, second))[0] == \
                grpc.StatusCode.UNAUTHENTICATED
            # Its readings stay (billing records) until an explicit purge.
            assert [r.tenant for r in kit.repository.readings(tenant)] == [tenant]
            # Retiring again is harmless; a tenant the gateway never had is nothing to retire.
            assert (await admin.retire(tenant)) is not None
            assert await admin.retire(f"never-{tenant}") is None
            retired_row = trust.tenant(tenant)
            assert retired_row is not None and retired_row.retired and not retired_row.dpa_signed

            # The Tenant re-created under the same name: refused for good (the operator's
            # GatewayRefused, no retry), saying since when and the way out; nothing written.
            with pytest.raises(GatewayRefusedError, match=r"FAILED_PRECONDITION: tenant "
                               r"'sync-\w+' was retired on \d{4}-\d\d-\d\d .*new name"):
                await admin.apply(record(tenant, max_agents=50))
            assert trust.tenant(tenant) == retired_row
            assert (await enroll(enroll_address, ca_pem, second))[0] == \
                grpc.StatusCode.UNAUTHENTICATED
            # The way out: a new name enrols.
            assert (await admin.apply(record(f"{tenant}-2"))).active
            assert (await enroll(enroll_address, ca_pem, kit.code(f"{tenant}-2")))[0] == \
                grpc.StatusCode.OK


async def test_the_record_names_the_agreement_document_and_the_retirement(
        vault: Vault, tmp_path: Path) -> None:
    kit = make_kit(tmp_path / "kit", vault)
    settings = dataclasses.replace(kit.settings, admin_identities=("platform",))
    cert, key = operator_identity(vault, tmp_path, "platform")
    async with running_gateway(settings, kit.repository, signer=kit.signer) as gateway:
        address = f"127.0.0.1:{gateway.port}"
        async with mutual(address, kit, cert.read_bytes(), key.read_bytes()) as channel:
            stub = admin_pb2_grpc.TenantAdminStub(channel)
            agreement = admin_pb2.DataProcessingAgreement(
                signed_by="Erika Mustermann", document_ref="contracts/globex/dpa-2026-03.pdf")
            agreement.signed_at.FromDatetime(SIGNED_AT.replace(tzinfo=None))
            applied = await stub.ApplyTenant(admin_pb2.ApplyTenantRequest(
                tenant="globex", region="eu-west", agreement=agreement), timeout=30)
            assert applied.active and applied.agreement == agreement
            assert not applied.HasField("retired_at") and applied.inactive_reason == ""

            # Withdrawn: no agreement, so no document either; not retired.
            withdrawn = await stub.ApplyTenant(admin_pb2.ApplyTenantRequest(
                tenant="globex", region="eu-west"), timeout=30)
            assert not withdrawn.HasField("agreement") and not withdrawn.HasField("retired_at")
            assert "no signed data-processing agreement" in withdrawn.inactive_reason
            await stub.ApplyTenant(admin_pb2.ApplyTenantRequest(
                tenant="globex", region="eu-west", agreement=agreement), timeout=30)

            before = datetime.now(UTC).replace(microsecond=0)
            retired = await stub.RetireTenant(admin_pb2.RetireTenantRequest(tenant="globex"),
                                              timeout=30)
            record_ = retired.tenant
            assert record_.HasField("retired_at") and not record_.active
            retired_at = record_.retired_at.ToDatetime(tzinfo=UTC)
            assert retired_at >= before
            assert record_.inactive_reason.startswith(f"retired on {retired_at:%Y-%m-%d %H:%M}")
            # The agreement that covered the kept data stays on the record.
            assert record_.agreement == agreement
            again = await stub.RetireTenant(admin_pb2.RetireTenantRequest(tenant="globex"),
                                            timeout=30)
            assert again.tenant.retired_at == record_.retired_at  # the first date stays

            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.ApplyTenant(admin_pb2.ApplyTenantRequest(
                    tenant="globex", region="eu-west", agreement=agreement), timeout=30)
            assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert f"retired on {retired_at:%Y-%m-%d %H:%M} UTC" in (refused.value.details() or "")
    row = kit.repository.trust.tenant("globex")
    assert row is not None and row.retired_at == retired_at
    assert row.dpa_document_ref == "contracts/globex/dpa-2026-03.pdf"


async def test_hostile_input_is_refused_by_field_and_nothing_is_stored(vault: Vault,
                                                                       tmp_path: Path) -> None:
    kit = make_kit(tmp_path / "kit", vault)
    settings = dataclasses.replace(kit.settings, admin_identities=("platform",))
    cert, key = operator_identity(vault, tmp_path, "platform")
    intruder = operator_identity(vault, tmp_path, "intruder")
    async with running_gateway(settings, kit.repository, signer=kit.signer) as gateway:
        address = f"127.0.0.1:{gateway.port}"
        async with mutual(address, kit, cert.read_bytes(), key.read_bytes()) as channel:
            stub = admin_pb2_grpc.TenantAdminStub(channel)
            await stub.ApplyTenant(admin_pb2.ApplyTenantRequest(
                tenant="calm", region="eu-north", max_agents=2), timeout=30)

            async def refused(request: admin_pb2.ApplyTenantRequest) -> str:
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await stub.ApplyTenant(request, timeout=30)
                assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                return err.value.details() or ""

            signed = admin_pb2.DataProcessingAgreement(signed_by="X", document_ref="D")
            signed.signed_at.FromDatetime(datetime(2026, 1, 1))
            assert (await refused(admin_pb2.ApplyTenantRequest(
                tenant="calm", region="us-east-1"))).startswith("region:")
            assert (await refused(admin_pb2.ApplyTenantRequest(
                tenant="calm", region="eu-north", max_agents=-1))).startswith("max_agents:")
            assert (await refused(admin_pb2.ApplyTenantRequest(
                tenant="calm", region="eu-north", max_devices=0))).startswith("max_devices:")
            assert (await refused(admin_pb2.ApplyTenantRequest(
                tenant="../etc", region="eu-north"))).startswith("tenant:")
            long_name = await refused(admin_pb2.ApplyTenantRequest(
                tenant="x" * 5000, region="eu-north"))
            assert long_name.startswith("tenant:") and "x" * 200 not in long_name
            huge = admin_pb2.DataProcessingAgreement()
            huge.CopyFrom(signed)
            huge.document_ref = "D" * 100_000
            assert (await refused(admin_pb2.ApplyTenantRequest(
                tenant="calm", region="eu-north", agreement=huge))).startswith(
                    "agreement.document_ref:")
            no_time = admin_pb2.DataProcessingAgreement(signed_by="X", document_ref="D")
            assert (await refused(admin_pb2.ApplyTenantRequest(
                tenant="calm", region="eu-north", agreement=no_time))).startswith(
                    "agreement.signed_at:")
            # Nothing half-applied: every refused request above left "calm" as it was.
            row = kit.repository.trust.tenant("calm")
            assert row is not None and (row.region, row.max_agents, row.max_devices,
                                        row.dpa_signed) == ("eu-north", 2, None, False)
            with pytest.raises(grpc.aio.AioRpcError) as garbage:
                await channel.unary_unary("/kdfm.v1.TenantAdmin/ApplyTenant")(
                    b"\xff\xff\xff", timeout=30)
            assert garbage.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        # An operator certificate of the same CA whose name is not listed: refused.
        async with mutual(address, kit, intruder[0].read_bytes(),
                          intruder[1].read_bytes()) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as denied:
                await admin_pb2_grpc.TenantAdminStub(channel).RetireTenant(
                    admin_pb2.RetireTenantRequest(tenant="calm"), timeout=30)
            assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert "admin_identities" in (denied.value.details() or "")
        # The enrolment port asks for no client certificate: the admin API is not there.
        plain = grpc.ssl_channel_credentials(kit.pki_bundle.read_bytes())
        async with grpc.aio.secure_channel(f"127.0.0.1:{gateway.enroll_port}", plain) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as anonymous:
                await admin_pb2_grpc.TenantAdminStub(channel).RetireTenant(
                    admin_pb2.RetireTenantRequest(tenant="calm"), timeout=30)
            assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert kit.repository.trust.tenant("calm").region == "eu-north"  # type: ignore[union-attr]


async def test_gateway_away_is_a_temporary_error(tmp_path: Path, vault: Vault) -> None:
    kit = make_kit(tmp_path / "kit", vault)
    cert, key = operator_identity(vault, tmp_path, "platform")
    client = GatewayClient(f"127.0.0.1:{free_tcp_port()}", cert_file=cert, key_file=key,
                           ca_file=kit.pki_bundle, timeout_s=5)
    async with client as admin:
        with pytest.raises(GatewayUnavailableError, match="UNAVAILABLE"):
            await admin.apply(record("nobody"))
