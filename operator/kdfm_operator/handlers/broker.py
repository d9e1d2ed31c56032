"""Broker: render Mosquitto's config, credentials and ACL for the bound tenants, apply the objects.

``sync`` is also called by the Tenant handler, so a tenant's change reaches its broker at once.
Mosquitto re-reads the password file and ACL on SIGHUP, which the pod's reload sidecar sends when
the mounted Secret changes: clients stay connected.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from kdfm_operator import conditions as cond
from kdfm_operator.clients.kube import KubeClient
from kdfm_operator.context import OperatorContext
from kdfm_operator.crds import GROUP, VERSION
from kdfm_operator.credentials import new_credential_data, read_field
from kdfm_operator.errors import InvalidSpecError, OperatorError
from kdfm_operator.handlers.outcome import owner_reference, raise_for
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
    name = cloud_secret_name(meta["name"])
    secret = await kube.get("v1", "Secret", meta["namespace"], name)
    hashed = read_field(secret, "passwordHash")
    if hashed:
        return hashed
    data = new_credential_data(ctx.settings.cloud_broker_username)
    await kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {
                "name": name,
                "namespace": meta["namespace"],
                "labels": {"app.kubernetes.io/managed-by": "kdfm-operator"},
                "ownerReferences": [owner_reference(broker)],
            },
            "data": data,
        }
    )
    created = read_field({"data": data}, "passwordHash")
    assert created is not None
    return created


async def _bound_tenants(kube: KubeClient, namespace: str, broker: str) -> list[rb.BoundTenant]:
    bound = []
    for tenant in await kube.list(API, "Tenant", namespace):
        meta = tenant.get("metadata") or {}
        if (tenant.get("spec") or {}).get("brokerRef", {}).get("name") != broker:
            continue
        if meta.get("deletionTimestamp"):
            continue  # leaving: its entries go now, before the finalizer releases it
        try:
            signed = rt.parse_spec(tenant["spec"]).agreement is not None
        except InvalidSpecError:
            continue
        secret = await kube.get("v1", "Secret", namespace, tenant_secret_name(meta["name"]))
        bound.append(rb.BoundTenant(meta["name"], signed, read_field(secret, "passwordHash")))
    return bound


async def sync(
    ctx: OperatorContext, kube: KubeClient, namespace: str, name: str
) -> rb.BrokerPlan | None:
    """Re-render and apply one broker; None when the Broker does not exist."""
    async with ctx.broker_lock(namespace, name):
        broker = await kube.get(API, "Broker", namespace, name)
        if broker is None or (broker.get("metadata") or {}).get("deletionTimestamp"):
            return None
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
        await kube.patch(
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
        return plan


async def reconcile(
    ctx: OperatorContext, body: Mapping[str, Any], patch: MutableMapping[str, Any], logger: Any
) -> None:
    """Reconcile one Broker (create, update, resume, resync timer)."""
    meta = body["metadata"]
    try:
        async with ctx.kube() as kube:
            plan = await sync(ctx, kube, meta["namespace"], meta["name"])
    except OperatorError as err:
        generation = meta.get("generation")
        patch.setdefault("status", {})["conditions"] = cond.merge(
            (body.get("status") or {}).get("conditions"),
            [cond.Condition(cond.READY, False, type(err).__name__.removesuffix("Error"), str(err))],
            generation=generation,
            now=ctx.clock(),
        )
        raise_for(err, delay=ctx.settings.retry_delay_s)
    if plan is not None:
        logger.info(f"broker config {plan.config_hash} applied for {len(plan.tenants)} tenant(s)")
