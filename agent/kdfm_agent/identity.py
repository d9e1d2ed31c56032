"""The agent's own identity: its private key (never leaves the machine), certificate and CA bundle.

Layout of the state directory (mode 0700):
    identity/agent.key    EC P-256 private key, PEM, mode 0600
    identity/agent.crt    client certificate signed by the tenant's PKI role, then its chain
    identity/ca.pem       what the agent trusts for the gateway and the broker
    identity/agent.json   agent id, tenant, gateway address
    identity/next.key, next.crt   a renewed pair while it replaces the current one
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kdfm_agent.errors import AgentError

IDENTITY_DIR = "identity"
RENEW_AFTER_FRACTION = 2 / 3


class IdentityError(AgentError):
    """The agent's key, certificate or identity record is missing or does not fit together."""


@dataclass(frozen=True, slots=True)
class AgentRecord:
    """Who this agent is for the cloud: its id, tenant and where its gateway is."""

    agent_id: str
    tenant: str
    gateway: str
    enrolled_via: str = ""
    """The address enrolment went to (the gateway's enrolment port); empty: same as gateway."""


@dataclass(frozen=True, slots=True)
class IdentityPaths:
    """Where the identity files live inside a state directory."""

    root: Path

    @classmethod
    def of(cls, state_dir: Path) -> IdentityPaths:
        return cls(state_dir / IDENTITY_DIR)

    @property
    def key(self) -> Path:
        return self.root / "agent.key"

    @property
    def certificate(self) -> Path:
        return self.root / "agent.crt"

    @property
    def ca_bundle(self) -> Path:
        return self.root / "ca.pem"

    @property
    def record(self) -> Path:
        return self.root / "agent.json"

    @property
    def next_key(self) -> Path:
        return self.root / "next.key"

    @property
    def next_certificate(self) -> Path:
        return self.root / "next.crt"


def write_private(path: Path, data: bytes) -> None:
    """Write a file only the agent's user can read, atomically and durably.

    Temp file, fsync, rename, then an fsync of the directory so the rename survives a crash.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)  # O_CREAT's mode is masked by the umask of whoever started us
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def new_private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def build_csr(key: ec.EllipticCurvePrivateKey, hostname: str) -> bytes:
    """A PKCS#10 request signed with SHA-256. The gateway sets the subject it signs (agent id,
    tenant); the hostname here is only a hint for the dealer's inventory."""
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                    hostname[:64] or "agent")]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


def load_certificates(pem: bytes) -> list[x509.Certificate]:
    certs = x509.load_pem_x509_certificates(pem)
    if not certs:
        raise IdentityError("no certificate in the PEM data")
    return certs


def renewal_time(certificate: x509.Certificate) -> datetime:
    """When two thirds of the certificate's lifetime have passed."""
    start, end = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    return start + timedelta(seconds=(end - start).total_seconds() * RENEW_AFTER_FRACTION)


def _check_pair(key: ec.EllipticCurvePrivateKey, certificate_chain_pem: bytes) -> None:
    leaf = load_certificates(certificate_chain_pem)[0]
    ours = key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    theirs = leaf.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    if ours != theirs:
        raise IdentityError("the certificate the gateway returned is not for this agent's key")


def save_identity(state_dir: Path, record: AgentRecord, key: ec.EllipticCurvePrivateKey,
                  certificate_chain_pem: bytes, ca_bundle_pem: bytes) -> None:
    """Store a newly issued identity. The key must match the certificate: checked before writing."""
    _check_pair(key, certificate_chain_pem)
    load_certificates(ca_bundle_pem)
    paths = IdentityPaths.of(state_dir)
    write_private(paths.key, key_pem(key))
    write_private(paths.certificate, certificate_chain_pem)
    write_private(paths.ca_bundle, ca_bundle_pem)
    write_private(paths.record, json.dumps(asdict(record), indent=2).encode())


@dataclass(frozen=True, slots=True)
class Identity:
    """A loaded identity, ready to build TLS credentials from."""

    record: AgentRecord
    key_pem: bytes
    certificate_chain_pem: bytes
    ca_bundle_pem: bytes

    @property
    def certificate(self) -> x509.Certificate:
        return load_certificates(self.certificate_chain_pem)[0]

    def valid_at(self, now: datetime | None = None) -> bool:
        cert, moment = self.certificate, now or datetime.now(UTC)
        return cert.not_valid_before_utc <= moment < cert.not_valid_after_utc


def save_renewed(state_dir: Path, key: ec.EllipticCurvePrivateKey,
                 certificate_chain_pem: bytes, ca_bundle_pem: bytes) -> None:
    """Replace key and certificate by a renewed pair without ever leaving a mismatched pair.

    Both land as next.key and next.crt (each written atomically, the certificate last) before
    either current file is replaced; a crash in between is finished by `load_identity`.
    """
    _check_pair(key, certificate_chain_pem)
    load_certificates(ca_bundle_pem)
    paths = IdentityPaths.of(state_dir)
    write_private(paths.ca_bundle, ca_bundle_pem)
    write_private(paths.next_key, key_pem(key))
    write_private(paths.next_certificate, certificate_chain_pem)
    _finish_renewal(paths)


def _finish_renewal(paths: IdentityPaths) -> None:
    # next.crt is written after next.key, so its presence means the pair is complete.
    if paths.next_certificate.exists() and paths.next_key.exists():
        os.replace(paths.next_key, paths.key)
        os.replace(paths.next_certificate, paths.certificate)


def load_identity(state_dir: Path) -> Identity | None:
    """The stored identity, or None when the agent has not enrolled."""
    paths = IdentityPaths.of(state_dir)
    if not paths.record.exists():
        return None
    try:
        _finish_renewal(paths)
        raw = json.loads(paths.record.read_text())
        record = AgentRecord(agent_id=raw["agent_id"], tenant=raw["tenant"], gateway=raw["gateway"],
                             enrolled_via=raw.get("enrolled_via", ""))
        return Identity(record, paths.key.read_bytes(), paths.certificate.read_bytes(),
                        paths.ca_bundle.read_bytes())
    except (OSError, ValueError, KeyError) as err:
        raise IdentityError(f"identity in {paths.root} is incomplete or unreadable: {err}") from err


def remove_identity(state_dir: Path) -> None:
    paths = IdentityPaths.of(state_dir)
    for path in (paths.key, paths.certificate, paths.ca_bundle, paths.record, paths.next_key,
                 paths.next_certificate):
        path.unlink(missing_ok=True)
