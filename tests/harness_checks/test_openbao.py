"""OpenBao: `pki_int` issues certificates whose chain verifies to the `pki` root."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.verification import PolicyBuilder, Store
from kdfm_cloud.devstack.openbao import OpenBaoConfig, OpenBaoServer, Vault, start, stop

pytestmark = pytest.mark.vault


def _issue(vault: Vault, common_name: str) -> dict[str, str]:
    response = vault.client().secrets.pki.generate_certificate(
        vault.role, common_name, extra_params={"ttl": "1h"}, mount_point=vault.int_mount)
    data: dict[str, str] = response["data"]
    return data


def _verify_chain(leaf_pem: str, vault: Vault) -> x509.Certificate:
    leaf = x509.load_pem_x509_certificate(leaf_pem.encode())
    intermediate = x509.load_pem_x509_certificate(vault.int_ca_pem.encode())
    root = x509.load_pem_x509_certificate(vault.root_ca_pem.encode())
    # Each signature checked with its issuer's key, and the root by itself.
    leaf.verify_directly_issued_by(intermediate)
    intermediate.verify_directly_issued_by(root)
    root.verify_directly_issued_by(root)
    # And as a path: the policy-aware verifier builds leaf -> intermediate -> root.
    verifier = (PolicyBuilder().store(Store([root]))
                .time(datetime.datetime.now(datetime.UTC)).build_client_verifier())
    chain = verifier.verify(leaf, [intermediate]).chain
    assert [c.subject for c in chain] == [leaf.subject, intermediate.subject, root.subject]
    return leaf


def test_intermediate_issues_certificate_chained_to_root(vault: Vault) -> None:
    issued = _issue(vault, "device-0001.kdfm.test")
    leaf = _verify_chain(issued["certificate"], vault)
    assert leaf.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == \
        "device-0001.kdfm.test"
    assert isinstance(leaf.public_key(), ec.EllipticCurvePublicKey)
    for pem in (vault.root_ca_pem, vault.int_ca_pem):
        ca = x509.load_pem_x509_certificate(pem.encode())
        public_key = ca.public_key()
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        assert public_key.curve.name == "secp256r1"
        assert isinstance(ca.signature_hash_algorithm, hashes.SHA256)
        assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert issued["issuing_ca"].strip() == vault.int_ca_pem.strip()


def test_ca_certificates_carry_the_configured_urls(vault: Vault) -> None:
    intermediate = x509.load_pem_x509_certificate(vault.int_ca_pem.encode())
    crl = intermediate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    urls = [name.value for point in crl for name in point.full_name or ()]
    assert urls == [f"{vault.addr}/v1/{vault.pki_mount}/crl"]
    config = vault.client().secrets.pki.read_urls(mount_point=vault.int_mount)["data"]
    assert config["issuing_certificates"] == [f"{vault.addr}/v1/{vault.int_mount}/ca"]


@pytest.mark.faults
def test_raft_server_keeps_its_pki_across_a_restart(openbao_server: OpenBaoServer) -> None:
    before = openbao_server.vault
    assert before is not None
    port = openbao_server.port
    openbao_server.stop()
    assert not openbao_server.alive()
    after = openbao_server.start()
    assert openbao_server.port == port
    assert after.root_ca_pem == before.root_ca_pem
    assert after.int_ca_pem == before.int_ca_pem
    _verify_chain(_issue(after, "after-restart.kdfm.test")["certificate"], after)


def test_background_start_and_stop(tmp_path: Path) -> None:
    state = tmp_path / "state"
    vault = start(OpenBaoConfig(dev=True), state)
    try:
        recorded = json.loads((state / "openbao.json").read_text())
        assert recorded["addr"] == vault.addr
        assert recorded["token"] == vault.token
        _verify_chain(_issue(vault, "background.kdfm.test")["certificate"], vault)
    finally:
        assert stop(state)
    assert not (state / "openbao.pid").exists()
    with pytest.raises(requests.ConnectionError):
        vault.client().sys.read_health_status(method="GET")
