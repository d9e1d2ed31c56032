"""The Vault client against real OpenBao: issue, caps, renew, revoke, CRL, tenant roles, outages."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import hvac
import pytest
from cryptography import x509
from kdfm_cloud import vaultpki
from kdfm_cloud.devstack.errors import StartupError
from kdfm_cloud.devstack.openbao import OpenBaoServer, Vault
from kdfm_operator.clients.vault import VaultClient
from kdfm_operator.errors import VaultUnavailableError
from kdfm_operator.reconcile import certificate as rc
from kdfm_operator.reconcile import tenant as rt

pytestmark = pytest.mark.vault


def cert_spec(
    vault: Vault, cn: str, duration: str = "2160h", role: str | None = None
) -> rc.CertificateSpec:
    return rc.parse_spec(
        {
            "commonName": cn,
            "dnsNames": [cn],
            "ipAddresses": ["127.0.0.1"],
            "duration": duration,
            "issuer": {
                "vaultAddress": vault.addr,
                "pkiMount": vault.int_mount,
                "role": role or vault.role,
                "authRef": {"secretName": "unused"},
            },
            "secretName": "x",
        }
    )


def issue_planned(
    client: VaultClient, spec: rc.CertificateSpec
) -> tuple[rc.CertificatePlan, object]:
    now = datetime.now(UTC)
    limits = client.issuer_limits(spec.issuer.pki_mount, spec.issuer.role)
    plan = rc.plan_certificate(
        spec,
        None,
        limits,
        rc.FailureHistory(),
        now,
        backoff_base_s=30,
        backoff_max_s=3600,
        ca_margin=timedelta(minutes=5),
    )
    assert plan.grant is not None
    return plan, client.issue(spec, plan.grant.ttl)


def test_issue_is_capped_by_role_and_chains_to_the_ca(vault: Vault) -> None:
    client = VaultClient(vault.addr, vault.token, timeout_s=30)
    limits = client.issuer_limits(vault.int_mount, vault.role)
    assert limits.role_max_ttl == timedelta(hours=720)  # the devstack role's max_ttl
    int_ca = x509.load_pem_x509_certificate(vault.int_ca_pem.encode())
    assert limits.ca_not_after == int_ca.not_valid_after_utc

    spec = cert_spec(vault, f"b-{uuid.uuid4().hex[:8]}.kdfm.test")
    plan, bundle = issue_planned(client, spec)
    assert plan.grant is not None and plan.grant.capped_by == "RoleMaxTTL"
    lifetime = bundle.info.not_after - bundle.info.not_before  # type: ignore[attr-defined]
    # Vault backdates notBefore by 30 s; the lifetime is the capped 720h (+ that backdate).
    assert timedelta(hours=720) <= lifetime <= timedelta(hours=720, minutes=2)
    leaf = x509.load_pem_x509_certificate(bundle.certificate.encode())  # type: ignore[attr-defined]
    leaf.verify_directly_issued_by(int_ca)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert spec.common_name in san.get_values_for_type(x509.DNSName)
    assert "BEGIN" in bundle.private_key  # type: ignore[attr-defined]
    assert (
        int_ca.subject.rfc4514_string()
        in x509.load_pem_x509_certificate(
            bundle.ca_chain.encode()  # type: ignore[attr-defined]
        ).subject.rfc4514_string()
    )


def test_short_duration_is_not_capped(vault: Vault) -> None:
    client = VaultClient(vault.addr, vault.token, timeout_s=30)
    plan, bundle = issue_planned(client, cert_spec(vault, "short.kdfm.test", duration="2h"))
    assert plan.grant is not None and plan.grant.capped_by is None
    lifetime = bundle.info.not_after - bundle.info.not_before  # type: ignore[attr-defined]
    assert timedelta(hours=2) <= lifetime <= timedelta(hours=2, minutes=2)


def test_renew_gives_new_serial_and_revoke_lands_on_crl(vault: Vault) -> None:
    client = VaultClient(vault.addr, vault.token, timeout_s=30)
    spec = cert_spec(vault, "renew.kdfm.test", duration="1h")
    _, first = issue_planned(client, spec)
    _, second = issue_planned(client, spec)
    assert first.info.serial != second.info.serial  # type: ignore[attr-defined]
    client.revoke(vault.int_mount, first.info.serial)  # type: ignore[attr-defined]
    revoked = client.revoked_serials(vault.int_mount)
    assert first.info.serial in revoked  # type: ignore[attr-defined]
    assert second.info.serial not in revoked  # type: ignore[attr-defined]
    # Revoking twice is harmless (the finalizer may run again after a crash).
    client.revoke(vault.int_mount, first.info.serial)  # type: ignore[attr-defined]


def test_tenant_role_and_policy_confine_issuance(vault: Vault) -> None:
    admin = VaultClient(vault.addr, vault.token, timeout_s=30)
    tenant = f"t{uuid.uuid4().hex[:8]}"
    plan = rt.plan_tenant(
        tenant,
        "fleet",
        rt.parse_spec(
            {
                "displayName": "T",
                "region": "eu-west",
                "quotas": {"maxAgents": 1, "maxDevices": 1},
                "brokerRef": {"name": "b"},
            }
        ),
        pki_mount=vault.int_mount,
        agent_max_ttl="24h",
        broker_ready=True,
    )
    admin.ensure_role(plan.role.mount, plan.role.name, plan.role.params)
    admin.ensure_policy(plan.policy.name, plan.policy.hcl)
    try:
        written = admin.read_role(plan.role.mount, plan.role.name)
        assert written is not None
        assert admin.read_policy(plan.policy.name) == plan.policy.hcl
        # The gateway makes the role again on first use (kdfm_cloud.vaultpki): the same name,
        # and nothing it writes differs from what the operator wrote, not even the operator's
        # 24h lifetime cap against the gateway's own 720h default.
        assert vaultpki.tenant_role(tenant) == plan.role.name
        vaultpki.ensure_tenant_role(vault.client(), vault.int_mount, tenant)  # default 720h
        assert admin.read_role(plan.role.mount, plan.role.name) == written
        token = hvac.Client(url=vault.addr, token=vault.token).auth.token.create(
            policies=[plan.policy.name], ttl="10m", no_default_policy=True
        )["auth"]["client_token"]
        agent = hvac.Client(url=vault.addr, token=token)

        def issue(uri: str, role: str = plan.role.name) -> x509.Certificate:
            # The role's key_type is "any" (agents bring CSRs), so issue names the key type.
            data = agent.secrets.pki.generate_certificate(
                name=role,
                common_name="a1",
                extra_params={"uri_sans": uri, "key_type": "ec", "key_bits": 256, "ttl": "1h"},
                mount_point=vault.int_mount,
            )["data"]
            return x509.load_pem_x509_certificate(data["certificate"].encode())

        leaf = issue(f"kdfm://tenant/{tenant}/agent/a1")
        eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert x509.ExtendedKeyUsageOID.CLIENT_AUTH in eku
        assert x509.ExtendedKeyUsageOID.SERVER_AUTH not in eku
        # The gateway's role (the same name and shape): O = tenant, the agent's kdfm:// URI.
        assert plan.role.name == f"kdfm-agent-{tenant}"
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert san.get_values_for_type(x509.UniformResourceIdentifier) == [
            f"kdfm://tenant/{tenant}/agent/a1"
        ]
        organisation = leaf.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
        assert [a.value for a in organisation] == [tenant]
        # Another tenant's agent URI through this role: refused by the role.
        with pytest.raises(hvac.exceptions.InvalidRequest, match="not valid for this role"):
            issue("kdfm://tenant/globex/agent/a1")
        # Another role through this token: refused by the policy.
        with pytest.raises(hvac.exceptions.Forbidden, match="permission denied"):
            issue(f"kdfm://tenant/{tenant}/agent/a1", role=vault.role)
    finally:
        admin.delete_role(plan.role.mount, plan.role.name)
        admin.delete_policy(plan.policy.name)
    assert admin.read_role(plan.role.mount, plan.role.name) is None
    assert admin.read_policy(plan.policy.name) is None
    # Deleting what is gone is fine: the finalizer may run twice.
    admin.delete_role(plan.role.mount, plan.role.name)
    admin.delete_policy(plan.policy.name)


def _raw(spec: rc.CertificateSpec) -> dict[str, object]:
    return {
        "commonName": spec.common_name,
        "duration": "1h",
        "issuer": {
            "vaultAddress": spec.issuer.vault_address,
            "pkiMount": spec.issuer.pki_mount,
            "role": spec.issuer.role,
            "authRef": {"secretName": "x"},
        },
        "secretName": spec.secret_name,
    }


@pytest.mark.faults
@pytest.mark.slow
def test_sealed_and_unreachable_are_retryable_and_recover(openbao_server: OpenBaoServer) -> None:
    vault = openbao_server.vault
    assert vault is not None
    client = VaultClient(vault.addr, vault.token, timeout_s=10)
    spec = cert_spec(vault, "outage.kdfm.test", duration="1h")
    issue_planned(client, spec)

    hvac.Client(url=vault.addr, token=vault.token).sys.seal()
    with pytest.raises(VaultUnavailableError, match="sealed"):
        client.issue(spec, timedelta(hours=1))
    assert VaultUnavailableError.retryable
    hvac.Client(url=vault.addr).sys.submit_unseal_key(openbao_server.unseal_key)
    _wait_active(vault.addr)
    issue_planned(client, spec)

    openbao_server.stop()
    with pytest.raises(VaultUnavailableError, match="unreachable"):
        client.issue(spec, timedelta(hours=1))
    _restart(openbao_server)
    _, bundle = issue_planned(client, spec)
    assert bundle.info.common_name == "outage.kdfm.test"  # type: ignore[attr-defined]


def _restart(server: OpenBaoServer) -> None:
    # The devstack's port_is_free() binds without SO_REUSEADDR, so the server side's TIME_WAIT
    # sockets (up to 60 s) make start() refuse the port OpenBao itself could bind; poll.
    deadline = time.monotonic() + 120
    while True:
        try:
            server.start()
            return
        except StartupError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def _wait_active(addr: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = hvac.Client(url=addr).sys.read_health_status(method="GET")
        if isinstance(status, dict) and not status.get("sealed") and not status.get("standby"):
            return
        time.sleep(0.2)
    raise AssertionError(f"OpenBao at {addr} did not become active after unseal")
