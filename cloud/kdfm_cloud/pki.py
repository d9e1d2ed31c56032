"""A small certificate authority made with `cryptography`: for tests and the dev stack.

Production certificates come from Vault/OpenBao; this issues the same shapes (RSA 2048,
SHA-256, agent identity per kdfm_cloud.identity) so the gateway cannot tell the difference.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kdfm_cloud import identity
from kdfm_cloud.store.repository import AgentKey


@dataclass(frozen=True, slots=True)
class CertifiedKey:
    """A certificate and its private key, PEM-encoded."""

    cert_pem: bytes
    key_pem: bytes

    def write(self, directory: Path, stem: str) -> tuple[Path, Path]:
        """Write `stem.crt` and `stem.key` (mode 0600); answers both paths."""
        directory.mkdir(parents=True, exist_ok=True)
        cert, key = directory / f"{stem}.crt", directory / f"{stem}.key"
        cert.write_bytes(self.cert_pem)
        key.touch(mode=0o600)
        key.write_bytes(self.key_pem)
        return cert, key


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _builder(subject: x509.Name, issuer: x509.Name, public_key: rsa.RSAPublicKey,
             days: int) -> x509.CertificateBuilder:
    now = datetime.now(UTC)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=days)))


@dataclass(frozen=True, slots=True)
class CertificateAuthority:
    """A self-signed root that signs server and agent certificates."""

    cert: x509.Certificate
    key: rsa.RSAPrivateKey

    @classmethod
    def create(cls, common_name: str = "KDFM throwaway CA", days: int = 30) -> CertificateAuthority:
        """A new root CA."""
        key = _key()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        cert = (_builder(name, name, key.public_key(), days)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(
                    digital_signature=True, key_cert_sign=True, crl_sign=True,
                    content_commitment=False, key_encipherment=False, data_encipherment=False,
                    key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
                .sign(key, hashes.SHA256()))
        return cls(cert, key)

    @property
    def cert_pem(self) -> bytes:
        """The root certificate, the trust anchor for gateway and broker."""
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def _sign(self, builder: x509.CertificateBuilder, usage: x509.ObjectIdentifier
              ) -> x509.Certificate:
        return (builder
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
                .sign(self.key, hashes.SHA256()))

    def issue_server(self, hosts: tuple[str, ...] = ("localhost", "127.0.0.1"),
                     days: int = 30) -> CertifiedKey:
        """A TLS server certificate for host names and IP addresses."""
        key = _key()
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
        builder = _builder(subject, self.cert.subject, key.public_key(), days).add_extension(
            x509.SubjectAlternativeName(names), critical=False)
        cert = self._sign(builder, ExtendedKeyUsageOID.SERVER_AUTH)
        return CertifiedKey(cert.public_bytes(serialization.Encoding.PEM), _pem(key))

    def issue_agent(self, agent: AgentKey, days: int = 30) -> CertifiedKey:
        """An agent's client certificate (identity as kdfm_cloud.identity defines it)."""
        key = _key()
        builder = _builder(identity.agent_subject(agent), self.cert.subject, key.public_key(),
                           days).add_extension(x509.SubjectAlternativeName(
                               [x509.UniformResourceIdentifier(identity.agent_uri(agent))]),
                               critical=False)
        cert = self._sign(builder, ExtendedKeyUsageOID.CLIENT_AUTH)
        return CertifiedKey(cert.public_bytes(serialization.Encoding.PEM), _pem(key))
