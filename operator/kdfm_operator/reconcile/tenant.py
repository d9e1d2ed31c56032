"""Tenant plan: the Vault role and policy for its agents, its broker entry, its conditions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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
            missing = [k for k in ("signedBy", "signedAt", "documentRef") if not dpa.get(k)]
            if missing:
                raise InvalidSpecError(
                    "Tenant spec.dataProcessingAgreement lacks " + ", ".join(missing)
                )
            agreement = Agreement(
                str(dpa["signedBy"]), str(dpa["signedAt"]), str(dpa["documentRef"])
            )
        quotas = spec["quotas"]
        return TenantSpec(
            display_name=str(spec["displayName"]),
            region=region,
            agreement=agreement,
            max_agents=int(quotas["maxAgents"]),
            max_devices=int(quotas["maxDevices"]),
            broker=str(spec["brokerRef"]["name"]),
        )
    except KeyError as err:
        raise InvalidSpecError(f"Tenant spec lacks required field {err.args[0]!r}") from err


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
class TenantPlan:
    """What a Tenant needs outside Kubernetes, and how to report it."""

    tenant: str
    namespace: str
    role: VaultRole
    policy: VaultPolicy
    topic_namespace: str
    broker: str
    agreement_signed: bool
    conditions: tuple[Condition, ...]


def topic_namespace(tenant: str) -> str:
    """The MQTT topic filter a tenant's agents own."""
    return f"{TOPIC_ROOT}/{tenant}/#"


def role_name(namespace: str, tenant: str) -> str:
    """Vault role name; namespaced because Vault is shared by the whole cluster."""
    return f"kdfm-agent-{namespace}-{tenant}"


def plan_tenant(
    name: str,
    namespace: str,
    spec: TenantSpec,
    *,
    pki_mount: str,
    agent_domain: str,
    agent_max_ttl: str,
    broker_ready: bool | None,
) -> TenantPlan:
    """Plan a tenant. broker_ready None means the Broker resource does not exist."""
    role = role_name(namespace, name)
    params: dict[str, Any] = {
        # Agents are named <agent>.<tenant>.<suffix>; nothing else can be signed with this role.
        "allowed_domains": [f"{name}.{agent_domain}"],
        "allow_subdomains": True,
        "allow_bare_domains": False,
        "allow_ip_sans": False,
        "allow_localhost": False,
        "enforce_hostnames": True,
        "server_flag": False,
        "client_flag": True,
        "key_type": "ec",
        "key_bits": 256,
        "max_ttl": agent_max_ttl,
        "ou": [name],
        "no_store": False,
    }
    policy_name = f"kdfm-tenant-{namespace}-{name}"
    hcl = (
        f"# Agents of tenant {namespace}/{name}: issue and sign through their role only.\n"
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
    else:
        ready = Condition(
            cond.READY,
            True,
            "Reconciled",
            f"Vault role {role} and broker entries on {spec.broker} are in place",
        )
    conds.insert(0, ready)
    return TenantPlan(
        tenant=name,
        namespace=namespace,
        role=VaultRole(mount=pki_mount, name=role, params=params),
        policy=VaultPolicy(name=policy_name, hcl=hcl),
        topic_namespace=topic_namespace(name),
        broker=spec.broker,
        agreement_signed=signed,
        conditions=tuple(conds),
    )
