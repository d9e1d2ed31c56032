"""Tenant plan: the Vault role and policy for its agents, its broker entry, the gateway's tenant
record, its conditions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kdfm_operator import conditions as cond
from kdfm_operator.conditions import Condition
from kdfm_operator.errors import InvalidSpecError

EU_REGIONS = ("eu-central", "eu-west", "eu-north", "eu-south")
TOPIC_ROOT = "kdfm/v1"


@dataclass(frozen=True)
class Agreement:
    """The signed data-processing agreement."""

    signed_by: str
    signed_at: str
    document_ref: str


@dataclass(frozen=True)
class TenantSpec:
    """A Tenant spec, parsed."""

    display_name: str
    region: str
    agreement: Agreement | None
    max_agents: int
    max_devices: int
    broker: str


def parse_spec(spec: Mapping[str, Any]) -> TenantSpec:
    """Parse a Tenant spec; refuse by name what the schema should have refused already."""
    try:
        region = str(spec["region"])
        if region not in EU_REGIONS:
            raise InvalidSpecError(
                f"Tenant spec.region {region!r} is not an EU region ({', '.join(EU_REGIONS)})"
            )
        dpa = spec.get("dataProcessingAgreement")
        agreement = None
        if dpa:
            dpa = _object(dpa, "dataProcessingAgreement")
            missing = [k for k in ("signedBy", "signedAt", "documentRef") if not dpa.get(k)]
            if missing:
                raise InvalidSpecError(
                    "Tenant spec.dataProcessingAgreement lacks " + ", ".join(missing)
                )
            agreement = Agreement(
                str(dpa["signedBy"]), str(dpa["signedAt"]), str(dpa["documentRef"])
            )
            try:
                cond.parse_time(agreement.signed_at)
            except ValueError as err:
                raise InvalidSpecError(
                    f"Tenant spec.dataProcessingAgreement.signedAt {agreement.signed_at!r} is "
                    "not an RFC 3339 time"
                ) from err
        quotas = _object(spec["quotas"], "quotas")
        return TenantSpec(
            display_name=str(spec["displayName"]),
            region=region,
            agreement=agreement,
            max_agents=_count(quotas["maxAgents"], "quotas.maxAgents"),
            max_devices=_count(quotas["maxDevices"], "quotas.maxDevices"),
            broker=str(_object(spec["brokerRef"], "brokerRef")["name"]),
        )
    except KeyError as err:
        raise InvalidSpecError(f"Tenant spec lacks required field {err.args[0]!r}") from err


def _object(value: Any, field: str) -> Mapping[str, Any]:
    """`value` when it is an object; InvalidSpecError naming spec.<field> otherwise."""
    if not isinstance(value, Mapping):
        raise InvalidSpecError(
            f"Tenant spec.{field} must be an object, not {type(value).__name__} {value!r}"
        )
    return value


def _count(value: Any, field: str) -> int:
    """`value` as an int; InvalidSpecError naming spec.<field> when it is not a whole number."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidSpecError(f"Tenant spec.{field} must be an integer, not {value!r}")
    try:
        return int(value)
    except ValueError as err:
        raise InvalidSpecError(f"Tenant spec.{field} must be an integer, not {value!r}") from err


@dataclass(frozen=True)
class VaultRole:
    """A PKI role that signs client certificates for one tenant's agents only."""

    mount: str
    name: str
    params: Mapping[str, Any]


@dataclass(frozen=True)
class VaultPolicy:
    """A Vault policy allowing issuance from one role and nothing else."""

    name: str
    hcl: str


@dataclass(frozen=True)
class GatewayTenant:
    """The tenant record the gateway must hold (TenantAdmin.ApplyTenant)."""

    tenant: str
    region: str
    signed_by: str | None
    signed_at: datetime | None
    document_ref: str | None
    max_agents: int
    max_devices: int


@dataclass(frozen=True)
class GatewayOutcome:
    """What the gateway answered to ApplyTenant; None in the plan means "not asked (yet)"."""

    active: bool
    agents: int
    devices: int
    inactive_reason: str = ""


@dataclass(frozen=True)
class TenantPlan:
    """What a Tenant needs outside Kubernetes, and how to report it."""

    tenant: str
    namespace: str
    role: VaultRole
    policy: VaultPolicy
    topic_namespace: str
    broker: str
    agreement_signed: bool
    gateway: GatewayTenant | None
    """None when the operator has no gateway configured: the step is skipped (and said so)."""
    conditions: tuple[Condition, ...]


def topic_namespace(tenant: str) -> str:
    """The MQTT topic filter a tenant's agents own."""
    return f"{TOPIC_ROOT}/{tenant}/#"


def role_name(tenant: str) -> str:
    """Vault role name: the one the gateway signs the tenant's agent CSRs with
    (kdfm_cloud.vaultpki.tenant_role). Not namespaced: the gateway knows tenants by name alone,
    so Tenant names must be unique in the cluster."""
    return f"kdfm-agent-{tenant}"


def policy_name(tenant: str) -> str:
    """Vault policy name of the tenant's role."""
    return f"kdfm-tenant-{tenant}"


def role_params(tenant: str, agent_max_ttl: str) -> dict[str, Any]:
    """The same role the gateway makes (kdfm_cloud.vaultpki.ensure_tenant_role): agent identity
    only as a kdfm:// URI of this tenant, client auth only; the gateway sets the subject."""
    return {
        "allow_any_name": True,
        "enforce_hostnames": False,
        "allow_ip_sans": False,
        "allow_localhost": False,
        "allowed_uri_sans": [f"kdfm://tenant/{tenant}/agent/*"],
        "server_flag": False,
        "client_flag": True,
        "code_signing_flag": False,
        "email_protection_flag": False,
        "key_usage": ["DigitalSignature"],
        "key_type": "any",
        "signature_bits": 256,
        "organization": [tenant],
        "use_csr_common_name": False,
        "use_csr_sans": False,
        "max_ttl": agent_max_ttl,
        "no_store": False,
    }


def gateway_tenant(name: str, spec: TenantSpec) -> GatewayTenant:
    """The gateway's record of the tenant (parse_spec has checked signedAt already)."""
    agreement = spec.agreement
    signed_at = cond.parse_time(agreement.signed_at) if agreement is not None else None
    return GatewayTenant(
        tenant=name,
        region=spec.region,
        signed_by=agreement.signed_by if agreement else None,
        signed_at=signed_at,
        document_ref=agreement.document_ref if agreement else None,
        max_agents=spec.max_agents,
        max_devices=spec.max_devices,
    )


def plan_tenant(
    name: str,
    namespace: str,
    spec: TenantSpec,
    *,
    pki_mount: str,
    agent_max_ttl: str,
    broker_ready: bool | None,
    gateway_configured: bool = False,
    gateway: GatewayOutcome | None = None,
) -> TenantPlan:
    """Plan a tenant. broker_ready None means the Broker resource does not exist; gateway is the
    gateway's answer once the record was applied (None: not applied, or no gateway configured)."""
    role = role_name(name)
    params = role_params(name, agent_max_ttl)
    policy = policy_name(name)
    hcl = (
        f"# Agents of tenant {name} ({namespace}): issue and sign through their role only.\n"
        f'path "{pki_mount}/issue/{role}" {{\n  capabilities = ["create", "update"]\n}}\n'
        f'path "{pki_mount}/sign/{role}" {{\n  capabilities = ["create", "update"]\n}}\n'
    )
    signed = spec.agreement is not None
    conds: list[Condition] = []
    if signed and spec.agreement is not None:
        conds.append(
            Condition(
                cond.AGREEMENT_SIGNED,
                True,
                "Signed",
                f"signed by {spec.agreement.signed_by} at {spec.agreement.signed_at} "
                f"({spec.agreement.document_ref})",
            )
        )
    else:
        conds.append(
            Condition(
                cond.AGREEMENT_SIGNED,
                False,
                "AgreementNotSigned",
                "no signed data-processing agreement on record",
            )
        )
    if not signed:
        ready = Condition(
            cond.READY,
            False,
            "AgreementNotSigned",
            "the data-processing agreement is not signed: activation codes are refused and the "
            "broker has no credentials for this tenant",
        )
    elif broker_ready is None:
        ready = Condition(
            cond.READY, False, "BrokerNotFound", f"Broker {namespace}/{spec.broker} does not exist"
        )
    elif not broker_ready:
        ready = Condition(
            cond.READY, False, "BrokerNotReady", f"Broker {namespace}/{spec.broker} is not ready"
        )
    elif gateway_configured and gateway is None:
        ready = Condition(
            cond.READY, False, "GatewayPending", "the gateway's tenant record is not applied yet"
        )
    elif gateway is not None and not gateway.active:
        ready = Condition(
            cond.READY, False, "GatewayInactive", f"the gateway refuses the tenant: "
            f"{gateway.inactive_reason or 'not active'}"
        )
    else:
        where = (
            f"the gateway's tenant record ({gateway.agents} agents, {gateway.devices} devices)"
            if gateway is not None
            else "no gateway record (no gateway configured: KDFM_OPERATOR_GATEWAY_ADDRESS is "
            "empty, so the gateway learns of this tenant only through `kdfm-cloud tenant`)"
        )
        ready = Condition(
            cond.READY,
            True,
            "Reconciled",
            f"Vault role {role}, broker entries on {spec.broker} and {where} are in place",
        )
    conds.insert(0, ready)
    return TenantPlan(
        tenant=name,
        namespace=namespace,
        role=VaultRole(mount=pki_mount, name=role, params=params),
        policy=VaultPolicy(name=policy, hcl=hcl),
        topic_namespace=topic_namespace(name),
        broker=spec.broker,
        agreement_signed=signed,
        gateway=gateway_tenant(name, spec) if gateway_configured else None,
        conditions=tuple(conds),
    )
