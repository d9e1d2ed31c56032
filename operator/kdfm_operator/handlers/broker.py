"""Broker: render Mosquitto's config, credentials and ACL for the bound tenants, apply the objects.

``sync`` is also called by the Tenant handler, so a tenant's change reaches its broker at once.
Mosquitto re-reads the password file and ACL on SIGHUP, which the pod's reload sidecar sends when
the mounted Secret changes: clients stay connected.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from kdfm_operator import conditions as cond
from kdfm_operator.clients.kube import KubeClient
from kdfm_operator.context import OperatorContext
from kdfm_operator.crds import GROUP, VERSION
from kdfm_operator.credentials import TENANT_SECRET_SELECTOR, credential_secret, read_field
from kdfm_operator.errors import DependencyNotReadyError, InvalidSpecError, OperatorError
from kdfm_operator.handlers.outcome import fail_ready, owner_reference
from kdfm_operator.reconcile import broker as rb
from kdfm_operator.reconcile import tenant as rt

API = f"{GROUP}/{VERSION}"


def cloud_secret_name(broker: str) -> str:
    """The Secret with the cloud's broker credential (the kdfm-cloud chart mounts it)."""
    return f"{broker}-mosquitto-cloud"


def tenant_secret_name(tenant: str) -> str:
    """The Secret with a tenant's broker credential."""
    return f"{tenant}-broker-credentials"


def is_ready(obj: Mapping[str, Any] | None) -> bool | None:
    """Ready=True of an object's status; None when the object does not exist."""
    if obj is None:
        return None
    ready = cond.find((obj.get("status") or {}).get("conditions"), cond.READY)
    return ready is not None and ready.get("status") == "True"


async def _cloud_hash(ctx: OperatorContext, kube: KubeClient, broker: Mapping[str, Any]) -> str:
    meta = broker["metadata"]
    name, namespace = cloud_secret_name(meta["name"]), meta["namespace"]
    existing = await kube.get("v1", "Secret", namespace, name)
    stored = read_field(existing, "passwordHash")
    if stored:
        return stored
    secret, hashed = credential_secret(
        name, namespace, owner_reference(broker), ctx.settings.cloud_broker_username
    )
    if existing is not None:
        # A Secret without a hash holds no usable credential: fill it in.
        await kube.apply(secret)
        return hashed
    if await kube.create(secret):
        return hashed
    # Created by someone else since our GET: theirs stands, and so does its hash.
    stored = read_field(await kube.get("v1", "Secret", namespace, name), "passwordHash")
    if not stored:
        raise DependencyNotReadyError(
            f"Secret {namespace}/{name} appeared without a passwordHash; it is filled in on the "
            "next attempt"
        )
    return stored


def bindings(tenants: Iterable[Mapping[str, Any]], broker: str) -> list[tuple[str, bool]]:
    """(name, agreement signed) of each Tenant bound to ``broker`` that stays and parses."""
    found = []
    for tenant in tenants:
        meta = tenant.get("metadata") or {}
        if (tenant.get("spec") or {}).get("brokerRef", {}).get("name") != broker:
            continue
        if meta.get("deletionTimestamp"):
            continue  # leaving: its entries go now, before the finalizer releases it
        try:
            signed = rt.parse_spec(tenant["spec"]).agreement is not None
        except InvalidSpecError:
            continue
        found.append((meta["name"], signed))
    return found


async def _bound_tenants(kube: KubeClient, namespace: str, broker: str) -> list[rb.BoundTenant]:
    bound = bindings(await kube.list(API, "Tenant", namespace), broker)
    if not bound:
        return []
    # One list for every tenant's credential, not one GET per tenant on each sync.
    labelled = {
        (secret.get("metadata") or {}).get("name"): secret
        for secret in await kube.list(
            "v1", "Secret", namespace, label_selector=TENANT_SECRET_SELECTOR
        )
    }
    result = []
    for name, signed in bound:
        secret_name = tenant_secret_name(name)
        secret = labelled.get(secret_name)
        if secret is None and signed:
            # Written before the Secrets were labelled (the tenant handler never rewrites one,
            # it would lose the password): read it by name. An unsigned tenant's hash is unused.
            secret = await kube.get("v1", "Secret", namespace, secret_name)
        result.append(rb.BoundTenant(name, signed, read_field(secret, "passwordHash")))
    return result


@dataclass(frozen=True)
class Synced:
    """What ``sync`` did to one broker, and whether the broker is Ready afterwards."""

    plan: rb.BrokerPlan | None
    """The applied plan; None when the Broker does not exist or is being deleted."""
    ready: bool | None
    """Ready=True of the Broker's status as written (or as found when not synced); None: absent."""


async def sync(ctx: OperatorContext, kube: KubeClient, namespace: str, name: str) -> Synced:
    """Re-render and apply one broker; no plan when the Broker does not exist or is leaving."""
    async with ctx.broker_lock(namespace, name):
        broker = await kube.get(API, "Broker", namespace, name)
        if broker is None or (broker.get("metadata") or {}).get("deletionTimestamp"):
            return Synced(None, is_ready(broker))
        spec = rb.parse_spec(broker.get("spec") or {})
        cert = await kube.get(API, "VaultCertificate", namespace, spec.certificate)
        tls_secret = (cert or {}).get("spec", {}).get("secretName") or f"{spec.certificate}-tls"
        plan = rb.plan_broker(
            name,
            namespace,
            spec,
            await _bound_tenants(kube, namespace, name),
            cloud_username=ctx.settings.cloud_broker_username,
            cloud_password_hash=await _cloud_hash(ctx, kube, broker),
            tls_secret_name=tls_secret,
            certificate_ready=is_ready(cert),
        )
        owner = owner_reference(broker)
        for obj in plan.objects:
            owned = {**obj, "metadata": {**obj["metadata"], "ownerReferences": [owner]}}
            await kube.apply(owned)
        generation = broker["metadata"].get("generation")
        patched = await kube.patch(
            API,
            "Broker",
            namespace,
            name,
            {
                "status": {
                    "observedGeneration": generation,
                    "tenants": list(plan.tenants),
                    "tenantCount": len(plan.tenants),
                    "configHash": plan.config_hash,
                    "conditions": cond.merge(
                        (broker.get("status") or {}).get("conditions"),
                        plan.conditions,
                        generation=generation,
                        now=ctx.clock(),
                    ),
                }
            },
            subresource="status",
        )
        return Synced(plan, is_ready(patched))


async def reconcile(
    ctx: OperatorContext, body: Mapping[str, Any], patch: MutableMapping[str, Any], logger: Any
) -> None:
    """Reconcile one Broker (create, update, resume, resync timer)."""
    meta = body["metadata"]
    try:
        async with ctx.kube() as kube:
            plan = (await sync(ctx, kube, meta["namespace"], meta["name"])).plan
    except OperatorError as err:
        fail_ready(
            patch.setdefault("status", {}),
            type(err).__name__.removesuffix("Error"),
            err,
            previous=(body.get("status") or {}).get("conditions"),
            generation=meta.get("generation"),
            now=ctx.clock(),
            delay=ctx.settings.retry_delay_s,
        )
    if plan is not None:
        logger.info(f"broker config {plan.config_hash} applied for {len(plan.tenants)} tenant(s)")
