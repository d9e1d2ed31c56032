"""Enrolment against a real OpenBao PKI: codes, refusals, the lockout, certificates, TLS."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from kdfm_agent import enroll, identity, lockout
from kdfm_agent.uplink.errors import GatewayRefusedError
from kdfm_agent.uplink.grpc import ClientTls, GatewayClient
from kdfm_cloud import activation
from kdfm_cloud.devstack.openbao import Vault
from kdfm_cloud.gateway.server import RunningGateway, running_gateway
from kdfm_cloud.store import AgentKey, tables
from kdfm_cloud.tenants import TrustError
from kdfm_cloud.vaultpki import vault_serial

from ..cloud.kit import build_reading
from .kit import TrustKit, opened_kit, raw_enroll

pytestmark = [pytest.mark.vault]

REFUSED = (grpc.StatusCode.UNAUTHENTICATED, "activation refused")


@pytest.fixture
def kit(tmp_path: Path, vault: Vault) -> Iterator[TrustKit]:
    with opened_kit(tmp_path / "cloud", vault) as made:
        yield made


@asynccontextmanager
async def gateway(kit: TrustKit) -> AsyncIterator[RunningGateway]:
    async with running_gateway(kit.settings, kit.repository, signer=kit.signer) as running:
        yield running


def _csr() -> bytes:
    return identity.build_csr(identity.new_private_key(), "probe")


def _agent_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kdfm_agent.cli", *args], capture_output=True,
                          text=True, timeout=120, check=False)


async def test_enrol_then_upload_with_a_pki_certificate(kit: TrustKit, tmp_path: Path) -> None:
    code = kit.tenant_with_code("acme")
    state = tmp_path / "agent"
    async with gateway(kit) as running:
        enrol_at = f"127.0.0.1:{running.enroll_port}"
        record = await enroll.enroll(enroll.EnrollRequest(
            gateway=enrol_at, code=code, ca_bundle_pem=kit.ca_bundle.read_bytes(),
            state_dir=state, hostname="site-pc"))
        assert record.tenant == "acme"
        assert record.gateway == f"127.0.0.1:{running.port}"
        assert record.enrolled_via == enrol_at
        loaded = identity.load_identity(state)
        assert loaded is not None
        tls = ClientTls(loaded.ca_bundle_pem, loaded.certificate_chain_pem, loaded.key_pem)
        async with GatewayClient(record.gateway, record.tenant, record.agent_id, tls) as client:
            answer = await client.upload([build_reading("enrolled-1", serial="SN-E")])
            assert list(answer.acknowledged) == ["enrolled-1"]
        # One-time: the same code again is refused like any other bad code.
        assert await raw_enroll(enrol_at, kit.ca_bundle.read_bytes(), code, _csr()) == REFUSED
        # The enrolment port serves Enroll only: without a client certificate nothing else.
        async with GatewayClient(enrol_at, record.tenant, record.agent_id, tls) as client:
            with pytest.raises(GatewayRefusedError, match="UNAUTHENTICATED"):
                await client.poll()

    leaf = loaded.certificate
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == record.agent_id
    assert leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "acme"
    uris = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value \
        .get_values_for_type(x509.UniformResourceIdentifier)
    assert uris == [f"kdfm://tenant/acme/agent/{record.agent_id}"]
    usages = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert isinstance(leaf.signature_hash_algorithm, hashes.SHA256)
    public = leaf.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp256r1"
    # Every certificate on the way to the root: EC P-256 or RSA-2048+, signed with SHA-256.
    for certificate in [*identity.load_certificates(loaded.certificate_chain_pem),
                        *identity.load_certificates(loaded.ca_bundle_pem)]:
        assert isinstance(certificate.signature_hash_algorithm, hashes.SHA256)
        key = certificate.public_key()
        assert (isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1") \
            or (isinstance(key, rsa.RSAPublicKey) and key.key_size >= 2048)
    stored = kit.repository.trust.serials(AgentKey(record.tenant, record.agent_id))
    assert stored == [vault_serial(leaf.serial_number)]


async def test_every_refusal_looks_the_same(kit: TrustKit) -> None:
    good = kit.tenant_with_code("acme")
    expired = kit.code("acme", expires=timedelta(seconds=1))
    burned = kit.code("acme")
    used = kit.code("acme")
    no_dpa = kit.code("acme")
    with kit.repository.engine.begin() as conn:
        c = tables.activation_codes
        conn.execute(c.update().where(c.c.code_id == activation.code_id_of(expired))
                     .values(expires_at=sa.func.datetime("now", "-1 hour")))
        conn.execute(c.update().where(c.c.code_id == activation.code_id_of(burned))
                     .values(burned_at=sa.func.datetime("now")))
        conn.execute(c.update().where(c.c.code_id == activation.code_id_of(used))
                     .values(used_at=sa.func.datetime("now")))
    kit.repository.trust.create_tenant("nodpa", "eu-west", None)
    with kit.repository.engine.begin() as conn:  # the DPA was withdrawn after the code was made
        c = tables.activation_codes
        conn.execute(c.update().where(c.c.code_id == activation.code_id_of(no_dpa))
                     .values(tenant="nodpa"))
    unknown = activation.new_code().code
    wrong_secret = good[:-4] + ("2222" if not good.endswith("2222") else "3333")
    async with gateway(kit.with_settings(max_failures_per_source=100)) as running:
        address, ca = f"127.0.0.1:{running.enroll_port}", kit.ca_bundle.read_bytes()
        for code in (unknown, expired, burned, used, no_dpa, wrong_secret, "", "garbage"):
            assert await raw_enroll(address, ca, code, _csr()) == REFUSED, code
        # The good code survived the failed guess at it (one failure of five).
        assert await raw_enroll(address, ca, good, _csr()) == (grpc.StatusCode.OK, "")
    row = kit.repository.trust.code(activation.code_id_of(good) or "")
    assert row is not None and row.failures == 1


def test_a_tenant_needs_an_eu_region_and_a_signed_dpa_for_codes(kit: TrustKit) -> None:
    trust = kit.repository.trust
    with pytest.raises(TrustError, match="not an EU region"):
        trust.create_tenant("us", "us-east-1", "X")
    trust.create_tenant("later", "eu-north", None)
    with pytest.raises(TrustError, match="data-processing agreement"):
        kit.code("later")
    signed = trust.sign_dpa("later", "Jane Dealer")
    assert signed.dpa_signed and signed.dpa_signed_by == "Jane Dealer"
    assert signed.region == "eu-north"
    kit.code("later")
    with pytest.raises(TrustError, match="exists already"):
        trust.create_tenant("later", "eu-west", None)


async def test_a_csr_too_weak_is_refused(kit: TrustKit) -> None:
    code = kit.tenant_with_code("acme")
    weak = ec.generate_private_key(ec.SECP384R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
           .sign(weak, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    async with gateway(kit) as running:
        status, details = await raw_enroll(f"127.0.0.1:{running.enroll_port}",
                                           kit.ca_bundle.read_bytes(), code, csr)
    assert status == grpc.StatusCode.INVALID_ARGUMENT and "P-256" in details
    row = kit.repository.trust.code(activation.code_id_of(code) or "")
    assert row is not None and row.used_at is None


async def test_wrong_code_five_times_disables_the_agent_and_burns_the_code(
        kit: TrustKit, tmp_path: Path) -> None:
    code = kit.tenant_with_code("acme")
    wrong = code[:-4] + ("2222" if not code.endswith("2222") else "3333")
    state, ca = tmp_path / "agent", tmp_path / "ca.pem"
    ca.write_bytes(kit.ca_bundle.read_bytes())
    async with gateway(kit) as running:
        args = ["enroll", "--gateway", f"127.0.0.1:{running.enroll_port}", "--ca-bundle", str(ca),
                "--state-dir", str(state)]
        codes = []
        for _ in range(5):  # every attempt is a new process: the count lives on disk
            result = await asyncio.to_thread(_agent_cli, *args, "--code", wrong)
            codes.append(result.returncode)
            assert wrong not in result.stdout + result.stderr
        assert codes == [1, 1, 1, 1, 3]
        # Disabled: even the right code is not sent any more, after a "restart" too.
        result = await asyncio.to_thread(_agent_cli, *args, "--code", code)
        assert result.returncode == 3 and "disabled" in result.stderr
        shown = json.loads((await asyncio.to_thread(
            _agent_cli, "status", "--state-dir", str(state), "--json")).stdout)
        assert shown["disabled"] is True and shown["failed_activation_attempts"] == 5
        row = kit.repository.trust.code(activation.code_id_of(code) or "")
        assert row is not None and row.failures == 5 and row.burned_at is not None
        # Re-provisioned, the agent may try again, but the burned code stays refused.
        assert (await asyncio.to_thread(_agent_cli, "reset", "--state-dir",
                                        str(state))).returncode == 0
        result = await asyncio.to_thread(_agent_cli, *args, "--code", code)
        assert result.returncode == 1 and "activation refused" in result.stderr
    assert lockout.load(state).failed_attempts == 1


async def test_failures_per_source_address_are_limited(kit: TrustKit) -> None:
    code = kit.tenant_with_code("acme")
    async with gateway(kit.with_settings(max_failures_per_source=3)) as running:
        address, ca = f"127.0.0.1:{running.enroll_port}", kit.ca_bundle.read_bytes()
        for _ in range(3):
            assert await raw_enroll(address, ca, activation.new_code().code, _csr()) == REFUSED
        # Blocked now: even a good code from this address is refused, and not spent.
        assert await raw_enroll(address, ca, code, _csr()) == REFUSED
    row = kit.repository.trust.code(activation.code_id_of(code) or "")
    assert row is not None and row.used_at is None and row.burned_at is None
    assert kit.repository.trust.source_failures("127.0.0.1") == 4


def _handshake(port: int, ca: Path, version: ssl.TLSVersion) -> str:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=str(ca))
    context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    context.maximum_version = version
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    context.set_alpn_protocols(["h2"])
    with socket.create_connection(("127.0.0.1", port), timeout=20) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        return str(tls.version())


def _plaintext_refused(port: int) -> bool:
    """An HTTP/2 preface in clear text gets no HTTP/2 answer (the server wants TLS)."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as raw:
        raw.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        raw.settimeout(10)
        try:
            answer = raw.recv(64)
        except (TimeoutError, ConnectionResetError):
            return True
    # A TLS server answers garbage with a TLS alert or closes; never an HTTP/2 SETTINGS frame.
    return not answer or answer[3:4] != b"\x04"


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1")
async def test_enrolment_port_refuses_old_tls_and_plaintext(kit: TrustKit) -> None:
    async with gateway(kit) as running:
        port = running.enroll_port
        assert port is not None
        assert await asyncio.to_thread(_handshake, port, kit.pki_bundle,
                                       ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
        for old in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
            with pytest.raises((ssl.SSLError, OSError)):
                await asyncio.to_thread(_handshake, port, kit.pki_bundle, old)
        assert await asyncio.to_thread(_plaintext_refused, port)
        assert await asyncio.to_thread(_plaintext_refused, running.port)
