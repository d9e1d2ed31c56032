"""Signing and revoking agent certificates through Vault, for the gateway and the CLI.

hvac blocks, so every call runs in a worker thread. The tenant's role is made on first use
and remembered for the life of the process.
"""

from __future__ import annotations

import asyncio
import threading

import hvac
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from kdfm_cloud import vaultpki
from kdfm_cloud.errors import CloudError, ConfigError
from kdfm_cloud.settings import VaultSettings, read_secret
from kdfm_cloud.store import AgentKey

MIN_RSA_BITS = 2048


class CsrError(CloudError):
    """A certificate signing request that is malformed or too weak to sign."""


def check_csr(csr_pem: bytes) -> x509.CertificateSigningRequest:
    """The CSR if it is self-signed with SHA-256 over an EC P-256 or RSA-2048+ key."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError as err:
        raise CsrError("csr_pem is not a PEM-encoded PKCS#10 request") from err
    if not csr.is_signature_valid:
        raise CsrError("the CSR's signature does not verify")
    if not isinstance(csr.signature_hash_algorithm, hashes.SHA256):
        raise CsrError("the CSR must be signed with SHA-256")
    key = csr.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name != "secp256r1":
            raise CsrError(f"EC keys must be P-256, not {key.curve.name}")
    elif isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise CsrError(f"RSA keys must have {MIN_RSA_BITS} bits or more, not {key.key_size}")
    else:
        raise CsrError(f"key type {type(key).__name__} is not EC P-256 or RSA")
    return csr


class AgentSigner:
    """Signs agent CSRs with the tenant's role and revokes certificates, via hvac."""

    def __init__(self, client: hvac.Client, mount: str, ttl: str) -> None:
        self._client = client
        self._mount = mount
        self._ttl = ttl
        self._roles: set[str] = set()
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: VaultSettings, ttl: str) -> AgentSigner:
        """A signer for the configured Vault; ConfigError when the token cannot be read."""
        if not settings.addr:
            raise ConfigError("vault.addr is not set: agent certificates cannot be signed")
        token = read_secret(settings.token_file, "vault.token_file")
        return cls(hvac.Client(url=settings.addr, token=token, timeout=settings.timeout_seconds),
                   settings.mount, ttl)

    def _role(self, tenant: str) -> str:
        role = vaultpki.tenant_role(tenant)
        with self._lock:
            known = role in self._roles
        if not known:
            vaultpki.ensure_tenant_role(self._client, self._mount, tenant)
            with self._lock:
                self._roles.add(role)
        return role

    def sign_now(self, agent: AgentKey, csr_pem: bytes) -> vaultpki.SignedCertificate:
        """Sign (blocking)."""
        return vaultpki.sign_agent(self._client, self._mount, self._role(agent.tenant), agent,
                                   csr_pem, ttl=self._ttl)

    async def sign(self, agent: AgentKey, csr_pem: bytes) -> vaultpki.SignedCertificate:
        """Sign in a worker thread."""
        return await asyncio.to_thread(self.sign_now, agent, csr_pem)

    def revoke_now(self, serial: str) -> None:
        """Revoke one certificate (blocking)."""
        vaultpki.revoke(self._client, self._mount, serial)
