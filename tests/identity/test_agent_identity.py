"""The agent's key, CSR, stored identity and the 5-attempt lockout (agent side)."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from kdfm_agent import identity, lockout


def agent_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Each call is a new process: state must come from disk, as after a restart."""
    return subprocess.run([sys.executable, "-m", "kdfm_agent.cli", *args],
                          capture_output=True, text=True, timeout=60, check=False)


def status(state_dir: Path) -> dict[str, object]:
    result = agent_cli("status", "--state-dir", str(state_dir), "--json")
    return dict(json.loads(result.stdout))


def sign(csr_pem: bytes, days: float = 30) -> tuple[bytes, bytes]:
    """A throwaway CA signs the CSR (the real gateway signs through Vault)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    now = datetime.now(UTC)
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(1)
          .not_valid_before(now - timedelta(minutes=1)).not_valid_after(now + timedelta(days=365))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    csr = x509.load_pem_x509_csr(csr_pem)
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "agent-1")]))
            .issuer_name(ca_name).public_key(csr.public_key()).serial_number(2)
            .not_valid_before(now - timedelta(minutes=1))
            .not_valid_after(now + timedelta(days=days))
            .sign(ca_key, hashes.SHA256()))
    return leaf.public_bytes(Encoding.PEM), ca.public_bytes(Encoding.PEM)


def test_csr_is_ec_p256_with_sha256() -> None:
    key = identity.new_private_key()
    csr = x509.load_pem_x509_csr(identity.build_csr(key, "site-pc-1"))
    assert csr.is_signature_valid
    assert isinstance(csr.signature_hash_algorithm, hashes.SHA256)
    public = csr.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert public.curve.name == "secp256r1"


def test_identity_is_stored_private_and_loads_back(tmp_path: Path) -> None:
    key = identity.new_private_key()
    cert, ca = sign(identity.build_csr(key, "pc"))
    record = identity.AgentRecord(agent_id="agent-1", tenant="acme", gateway="127.0.0.1:1")
    identity.save_identity(tmp_path, record, key, cert, ca)
    paths = identity.IdentityPaths.of(tmp_path)
    for path in (paths.key, paths.certificate, paths.ca_bundle, paths.record):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    loaded = identity.load_identity(tmp_path)
    assert loaded is not None
    assert loaded.record == record
    assert loaded.valid_at()
    shown = status(tmp_path)
    assert shown["enrolled"] is True
    assert shown["agent_id"] == "agent-1"
    assert shown["disabled"] is False


def test_certificate_for_another_key_is_refused(tmp_path: Path) -> None:
    cert, ca = sign(identity.build_csr(identity.new_private_key(), "pc"))
    record = identity.AgentRecord(agent_id="a", tenant="t", gateway="g")
    with pytest.raises(identity.IdentityError, match="not for this agent's key"):
        identity.save_identity(tmp_path, record, identity.new_private_key(), cert, ca)
    assert identity.load_identity(tmp_path) is None


def test_renewal_is_due_after_two_thirds_of_the_lifetime() -> None:
    key = identity.new_private_key()
    cert = x509.load_pem_x509_certificate(sign(identity.build_csr(key, "pc"), days=30)[0])
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert identity.renewal_time(cert) == cert.not_valid_before_utc + lifetime * 2 / 3


def test_fifth_refusal_disables_and_it_survives_a_restart(tmp_path: Path) -> None:
    for attempt in range(1, 5):
        state = lockout.record_failure(tmp_path, "gateway answered UNAUTHENTICATED")
        assert state.failed_attempts == attempt
        assert not state.disabled
    assert status(tmp_path)["disabled"] is False
    state = lockout.record_failure(tmp_path, "gateway answered UNAUTHENTICATED")
    assert state.disabled
    shown = status(tmp_path)  # a new process reads it from disk
    assert shown["disabled"] is True
    assert "5 failed activation attempts" in str(shown["reason"])
    with pytest.raises(lockout.AgentDisabledError):
        lockout.ensure_enabled(tmp_path)


def test_disabled_agent_refuses_to_enroll_even_before_dialling(tmp_path: Path) -> None:
    for _ in range(lockout.MAX_FAILED_ACTIVATIONS):
        lockout.record_failure(tmp_path, "refused")
    ca = tmp_path / "ca.pem"
    ca.write_bytes(sign(identity.build_csr(identity.new_private_key(), "x"))[1])
    result = agent_cli("enroll", "--gateway", "127.0.0.1:9", "--code", "VALID-CODE",
                       "--ca-bundle", str(ca), "--state-dir", str(tmp_path))
    assert result.returncode == 3
    assert "disabled" in result.stderr
    assert "VALID-CODE" not in result.stdout + result.stderr


def test_reset_lifts_the_lockout(tmp_path: Path) -> None:
    for _ in range(lockout.MAX_FAILED_ACTIVATIONS):
        lockout.record_failure(tmp_path, "refused")
    assert agent_cli("reset", "--state-dir", str(tmp_path)).returncode == 0
    assert status(tmp_path) == {"disabled": False, "reason": None,
                                "failed_activation_attempts": 0, "enrolled": False}


@pytest.mark.parametrize("garbage", [b"", b"{not json", b'{"disabled": false}'])
def test_a_damaged_lockout_file_keeps_the_agent_disabled(tmp_path: Path, garbage: bytes) -> None:
    (tmp_path / lockout.LOCKOUT_FILE).write_bytes(garbage)
    assert lockout.load(tmp_path).disabled


def test_unreachable_gateway_is_not_an_activation_attempt(tmp_path: Path) -> None:
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ca = tmp_path / "ca.pem"
    ca.write_bytes(sign(identity.build_csr(identity.new_private_key(), "x"))[1])
    result = agent_cli("enroll", "--gateway", f"127.0.0.1:{port}", "--code", "SECRET-CODE-1",
                       "--ca-bundle", str(ca), "--state-dir", str(tmp_path / "state"),
                       "--timeout", "3")
    assert result.returncode == 1
    assert "UNAVAILABLE" in result.stderr or "DEADLINE_EXCEEDED" in result.stderr
    assert "SECRET-CODE-1" not in result.stdout + result.stderr
    assert lockout.load(tmp_path / "state").failed_attempts == 0
    assert not os.path.exists(tmp_path / "state" / "identity" / "agent.key")

