"""Tenant and Broker plans: agreement gating, Vault role scope, ACL generation, broker objects."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from typing import Any

import kubernetes_validate
import pytest
from kdfm_operator.errors import InvalidSpecError
from kdfm_operator.reconcile import broker as rb
from kdfm_operator.reconcile import tenant as rt

SIGNED = {"signedBy": "Jane Doe", "signedAt": "2026-01-02T03:04:05Z", "documentRef": "DPA-7"}


def tenant_spec(**over: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "displayName": "Acme Print GmbH",
        "region": "eu-central",
        "dataProcessingAgreement": SIGNED,
        "quotas": {"maxAgents": 5, "maxDevices": 500},
        "brokerRef": {"name": "main"},
    }
    raw.update(over)
    return raw


def plan_tenant(
    raw: dict[str, Any],
    broker_ready: bool | None = True,
    *,
    gateway_configured: bool = False,
    gateway: rt.GatewayOutcome | None = None,
) -> rt.TenantPlan:
    return rt.plan_tenant(
        "acme",
        "fleet",
        rt.parse_spec(raw),
        pki_mount="pki_int",
        agent_max_ttl="720h",
        broker_ready=broker_ready,
        gateway_configured=gateway_configured,
        gateway=gateway,
    )


def test_signed_tenant_is_ready_with_scoped_role_and_policy() -> None:
    p = plan_tenant(tenant_spec())
    ready = p.conditions[0]
    assert (ready.type, ready.status, ready.reason) == ("Ready", True, "Reconciled")
    assert p.agreement_signed
    assert p.topic_namespace == "kdfm/v1/acme/#"
    # The role the gateway signs the tenant's agent CSRs with: same name, same shape.
    assert p.role.name == "kdfm-agent-acme"
    assert p.role.params["allowed_uri_sans"] == ["kdfm://tenant/acme/agent/*"]
    assert p.role.params["organization"] == ["acme"]
    assert p.role.params["client_flag"] is True and p.role.params["server_flag"] is False
    assert p.role.params["allow_ip_sans"] is False
    assert 'path "pki_int/issue/kdfm-agent-acme"' in p.policy.hcl
    # The policy names exactly the tenant's role and no wildcard.
    assert "*" not in p.policy.hcl


def test_unsigned_tenant_is_reconciled_but_not_ready() -> None:
    raw = tenant_spec()
    del raw["dataProcessingAgreement"]
    p = plan_tenant(raw)
    ready = {c.type: c for c in p.conditions}
    assert ready["Ready"].status is False
    assert ready["Ready"].reason == "AgreementNotSigned"
    assert "activation codes are refused" in ready["Ready"].message
    assert ready["AgreementSigned"].status is False
    assert not p.agreement_signed
    # Still reconciled: the Vault role exists so that signing later needs no new objects.
    assert p.role.name == "kdfm-agent-acme"


def test_broker_state_is_reflected() -> None:
    assert plan_tenant(tenant_spec(), broker_ready=None).conditions[0].reason == "BrokerNotFound"
    assert plan_tenant(tenant_spec(), broker_ready=False).conditions[0].reason == "BrokerNotReady"


def test_gateway_record_is_planned_only_when_a_gateway_is_configured() -> None:
    assert plan_tenant(tenant_spec()).gateway is None
    ready = plan_tenant(tenant_spec()).conditions[0]
    assert ready.status is True and "no gateway configured" in ready.message
    p = plan_tenant(tenant_spec(), gateway_configured=True)
    assert p.gateway == rt.GatewayTenant(
        tenant="acme",
        region="eu-central",
        signed_by="Jane Doe",
        signed_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        document_ref="DPA-7",
        max_agents=5,
        max_devices=500,
    )
    # Not applied yet: not Ready; applied and active: Ready with the gateway's counts.
    assert p.conditions[0].reason == "GatewayPending" and p.conditions[0].status is False
    done = plan_tenant(
        tenant_spec(), gateway_configured=True, gateway=rt.GatewayOutcome(True, 2, 40)
    ).conditions[0]
    assert done.status is True and "2 agents, 40 devices" in done.message
    inactive = plan_tenant(
        tenant_spec(),
        gateway_configured=True,
        gateway=rt.GatewayOutcome(False, 0, 0, "no signed data-processing agreement"),
    ).conditions[0]
    assert inactive.reason == "GatewayInactive" and "agreement" in inactive.message


def test_unsigned_tenant_record_carries_no_agreement_and_stays_not_ready() -> None:
    raw = tenant_spec()
    del raw["dataProcessingAgreement"]
    p = plan_tenant(raw, gateway_configured=True, gateway=rt.GatewayOutcome(False, 0, 0))
    assert p.gateway is not None
    assert (p.gateway.signed_by, p.gateway.signed_at, p.gateway.document_ref) == (None, None, None)
    # The agreement decides first: the reason a platform team acts on.
    assert p.conditions[0].reason == "AgreementNotSigned"


def test_signed_at_must_be_a_time() -> None:
    bad = {**SIGNED, "signedAt": "last tuesday"}
    with pytest.raises(InvalidSpecError, match="signedAt"):
        rt.parse_spec(tenant_spec(dataProcessingAgreement=bad))


def test_non_eu_region_and_partial_agreement_refused_by_name() -> None:
    with pytest.raises(InvalidSpecError, match="us-east"):
        rt.parse_spec(tenant_spec(region="us-east"))
    with pytest.raises(InvalidSpecError, match="documentRef"):
        rt.parse_spec(tenant_spec(dataProcessingAgreement={"signedBy": "x", "signedAt": "y"}))
    raw = tenant_spec()
    del raw["quotas"]
    with pytest.raises(InvalidSpecError, match="quotas"):
        rt.parse_spec(raw)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("quotas", "10", "Tenant spec.quotas must be an object, not str '10'"),
    ("quotas", {"maxAgents": "ten", "maxDevices": 5},
     "Tenant spec.quotas.maxAgents must be an integer, not 'ten'"),
    ("quotas", {"maxAgents": 5, "maxDevices": 2.5},
     "Tenant spec.quotas.maxDevices must be an integer, not 2.5"),
    ("brokerRef", ["kdfm-broker"], "Tenant spec.brokerRef must be an object, not list"),
    ("dataProcessingAgreement", "signed",
     "Tenant spec.dataProcessingAgreement must be an object, not str 'signed'"),
])
def test_a_malformed_field_is_refused_by_name(field: str, value: object, message: str) -> None:
    # The CRD schema refuses these on a real API server; the operator must not crash on them
    # where none checked (kopf's own tests, an older CRD).
    with pytest.raises(InvalidSpecError) as refused:
        rt.parse_spec(tenant_spec(**{field: value}))
    assert str(refused.value).startswith(message)


def test_password_hash_matches_mosquitto_format() -> None:
    salt = bytes(range(12))
    line = rb.hash_password("s3cret", salt)
    _, scheme, iterations, salt_b64, digest_b64 = line.split("$")
    assert scheme == "7" and iterations == "101"
    assert base64.b64decode(salt_b64) == salt
    expected = hashlib.pbkdf2_hmac("sha512", b"s3cret", salt, 101)
    assert base64.b64decode(digest_b64) == expected
    with pytest.raises(ValueError, match="12 bytes"):
        rb.hash_password("x", b"short")


def users(*tenants: rb.BoundTenant) -> tuple[rb.BrokerUser, ...]:
    return rb.broker_users(tenants, cloud_username="kdfm-cloud", cloud_password_hash="$7$h")


def test_acl_gives_each_tenant_its_namespace_only() -> None:
    u = users(
        rb.BoundTenant("acme", True, "$7$a"),
        rb.BoundTenant("globex", True, "$7$g"),
        rb.BoundTenant("unsigned", False, "$7$u"),
        rb.BoundTenant("nocred", True, None),
    )
    acl = rb.render_acl(u)
    blocks = {b.splitlines()[0]: b.splitlines()[1:] for b in acl.split("\n\n")[1:]}
    assert blocks == {
        "user acme": ["topic readwrite kdfm/v1/acme/#"],
        "user globex": ["topic readwrite kdfm/v1/globex/#"],
        "user kdfm-cloud": ["topic readwrite kdfm/v1/#"],
    }
    passwd = rb.render_password_file(u)
    assert passwd == "acme:$7$a\nglobex:$7$g\nkdfm-cloud:$7$h\n"
    assert "unsigned" not in acl + passwd


def test_tenant_named_like_cloud_user_is_refused() -> None:
    with pytest.raises(InvalidSpecError, match="kdfm-cloud"):
        users(rb.BoundTenant("kdfm-cloud", True, "$7$x"))


def test_config_has_tls_listeners_and_no_anonymous() -> None:
    conf = rb.render_config(wss_port=8443, mqtts_port=8883, paths=rb.ConfigPaths())
    assert "allow_anonymous false" in conf
    assert "listener 8883\nprotocol mqtt" in conf
    assert "listener 8443\nprotocol websockets" in conf
    assert conf.count("tls_version tlsv1.2") == 2
    only_wss = rb.render_config(wss_port=8443, mqtts_port=None, paths=rb.ConfigPaths())
    assert "protocol mqtt" not in only_wss


def broker_plan(
    raw: dict[str, Any], tenants: list[rb.BoundTenant], ready: bool | None = True
) -> rb.BrokerPlan:
    return rb.plan_broker(
        "main",
        "fleet",
        rb.parse_spec(raw),
        tenants,
        cloud_username="kdfm-cloud",
        cloud_password_hash="$7$h",
        tls_secret_name="main-tls",
        certificate_ready=ready,
    )


def test_broker_objects_and_defaults() -> None:
    p = broker_plan(
        {"tlsCertificateRef": {"name": "main-cert"}}, [rb.BoundTenant("acme", True, "$7$a")]
    )
    kinds = {o["kind"]: o for o in p.objects}
    assert set(kinds) == {"ConfigMap", "Secret", "Deployment", "Service", "PodDisruptionBudget"}
    svc_ports = {pt["name"]: pt["port"] for pt in kinds["Service"]["spec"]["ports"]}
    assert svc_ports == {"wss": 443, "mqtts": 8883}
    dep = kinds["Deployment"]["spec"]
    assert dep["replicas"] == 2
    pod = dep["template"]["spec"]
    assert pod["shareProcessNamespace"] is True
    assert [c["name"] for c in pod["containers"]] == ["mosquitto", "reload"]
    assert {"name": "tls", "secret": {"secretName": "main-tls"}} in pod["volumes"]
    # The config hash is not in the pod template: a change must not restart pods.
    assert p.config_hash not in str(dep["template"])
    assert base64.b64decode(kinds["Secret"]["data"]["acl"]).decode() == p.acl
    assert p.tenants == ("acme",)
    assert p.conditions[0].reason == "Reconciled"


def test_broker_hash_changes_with_tenants_only() -> None:
    raw = {"tlsCertificateRef": {"name": "c"}}
    a = broker_plan(raw, [rb.BoundTenant("acme", True, "$7$a")])
    again = broker_plan(raw, [rb.BoundTenant("acme", True, "$7$a")])
    b = broker_plan(raw, [rb.BoundTenant("acme", True, "$7$a"), rb.BoundTenant("g", True, "$7$g")])
    assert a.config_hash == again.config_hash != b.config_hash


def test_broker_without_certificate_is_not_ready_and_listeners_validated() -> None:
    p = broker_plan({"tlsCertificateRef": {"name": "c"}}, [], ready=None)
    assert p.conditions[0].reason == "CertificateNotFound"
    off = {"enabled": False}
    with pytest.raises(InvalidSpecError, match="both wss and mqtts"):
        rb.parse_spec({"tlsCertificateRef": {"name": "c"}, "listeners": {"wss": off, "mqtts": off}})
    with pytest.raises(InvalidSpecError, match="tlsCertificateRef"):
        rb.parse_spec({})


def test_broker_objects_validate_against_kubernetes_schemas() -> None:
    p = broker_plan(
        {"tlsCertificateRef": {"name": "c"}, "resources": {"limits": {"memory": "256Mi"}}},
        [rb.BoundTenant("acme", True, "$7$a")],
    )
    for obj in p.objects:
        kubernetes_validate.validate(dict(obj), "1.33.0", strict=True)
