"""A gateway wired to a real OpenBao PKI, with tenants and activation codes, for the identity
tests. The gateway's own certificate comes from the same PKI, as in `kdfm-cloud dev up`."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
from kdfm_cloud import activation, vaultpki
from kdfm_cloud.agentpki import AgentSigner
from kdfm_cloud.devstack.openbao import Vault
from kdfm_cloud.settings import EnrollSettings, GatewaySettings, TlsSettings
from kdfm_cloud.store import SqlRepository, open_repository, sqlite_url
from kdfm_operator.clients.vault import VaultClient
from kdfm_operator.reconcile import certificate as rc
from kdfm_proto.v1 import gateway_pb2, gateway_pb2_grpc


@dataclass
class TrustKit:
    """Everything a gateway with enrolment needs, written to `directory`."""

    directory: Path
    vault: Vault
    repository: SqlRepository
    settings: GatewaySettings
    signer: AgentSigner
    pki_bundle: Path
    ca_bundle: Path
    database: str

    def tenant_with_code(self, tenant: str, expires: timedelta = timedelta(days=7)) -> str:
        """A tenant (eu-central, DPA signed) and one fresh activation code for it."""
        if self.repository.trust.tenant(tenant) is None:
            self.repository.trust.create_tenant(tenant, "eu-central", "Test Dealer")
        return self.code(tenant, expires)

    def code(self, tenant: str, expires: timedelta = timedelta(days=7)) -> str:
        """One more code for an existing tenant."""
        code = activation.new_code()
        self.repository.trust.create_code(tenant, code, datetime.now(UTC) + expires)
        return code.code

    def with_settings(self, **enroll: Any) -> TrustKit:
        """The same kit with other enrolment settings."""
        settings = dataclasses.replace(
            self.settings, enroll=dataclasses.replace(self.settings.enroll, **enroll))
        return dataclasses.replace(self, settings=settings)


def make_kit(directory: Path, vault: Vault, *, ttl: str = "720h",
             extra_ca: Path | None = None) -> TrustKit:
    """A kit on a fresh SQLite store; `extra_ca` (e.g. a broker's CA) joins the agents' bundle."""
    directory.mkdir(parents=True, exist_ok=True)
    client = vault.client()
    cert, key = vaultpki.issue_server(client, vault.int_mount, vault.role).write(directory,
                                                                                 "gateway")
    pki_bundle = directory / "pki-ca.pem"
    pki_bundle.write_text(vault.root_ca_pem.strip() + "\n" + vault.int_ca_pem.strip() + "\n")
    ca_bundle = directory / "ca-bundle.pem"
    ca_bundle.write_text(pki_bundle.read_text() + (extra_ca.read_text() if extra_ca else ""))
    database = sqlite_url(directory / "cloud.db")
    settings = GatewaySettings(
        listen="127.0.0.1:0", shutdown_grace_seconds=2.0, poll_interval_seconds=1,
        tls=TlsSettings(cert_file=str(cert), key_file=str(key), client_ca_file=str(pki_bundle)),
        enroll=EnrollSettings(listen="127.0.0.1:0", ca_bundle_file=str(ca_bundle),
                              certificate_ttl=ttl))
    return TrustKit(directory=directory, vault=vault, repository=open_repository(database),
                    settings=settings, signer=AgentSigner(client, vault.int_mount, ttl),
                    pki_bundle=pki_bundle, ca_bundle=ca_bundle, database=database)


@contextmanager
def opened_kit(directory: Path, vault: Vault, **options: Any) -> Iterator[TrustKit]:
    """make_kit for the length of a block; its store is closed afterwards."""
    made = make_kit(directory, vault, **options)
    try:
        yield made
    finally:
        made.repository.close()


async def raw_enroll(address: str, ca_pem: bytes, code: str, csr_pem: bytes
                     ) -> tuple[grpc.StatusCode, str]:
    """Enroll as a bare client; answers the status code and details (OK, "" on success)."""
    async with grpc.aio.secure_channel(address, grpc.ssl_channel_credentials(ca_pem)) as channel:
        stub = gateway_pb2_grpc.AgentGatewayStub(channel)
        try:
            await stub.Enroll(gateway_pb2.EnrollRequest(activation_code=code, csr_pem=csr_pem,
                                                        hostname="probe"), timeout=30)
        except grpc.aio.AioRpcError as err:
            return err.code(), err.details() or ""
    return grpc.StatusCode.OK, ""


def operator_identity(vault: Vault, directory: Path, name: str) -> tuple[Path, Path]:
    """The operator's client certificate as a VaultCertificate would issue it (uriSans)."""
    role = "kdfm-operator-identity"
    vault.client().secrets.pki.create_or_update_role(role, {
        "allow_any_name": True, "enforce_hostnames": False, "allowed_uri_sans": [
            "kdfm://operator/*"], "server_flag": False, "client_flag": True,
        "key_type": "ec", "key_bits": 256, "max_ttl": "24h"}, mount_point=vault.int_mount)
    spec = rc.parse_spec({
        "commonName": f"kdfm-operator-{name}", "uriSans": [f"kdfm://operator/{name}"],
        "usages": ["client auth"], "duration": "1h", "secretName": "x",
        "issuer": {"vaultAddress": vault.addr, "pkiMount": vault.int_mount, "role": role,
                   "authRef": {"secretName": "x"}}})
    issued = VaultClient(vault.addr, vault.token, timeout_s=30).issue(spec, timedelta(hours=1))
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    cert.write_text(issued.certificate.strip() + "\n" + issued.ca_chain)
    key.write_text(issued.private_key)
    return cert, key
