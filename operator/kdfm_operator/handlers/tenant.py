"""Tenant: Vault role and policy for its agents, broker credential and entries, status.

Deletion (finalizer) removes the Vault role and policy and the broker entries. When Vault is gone
for good, annotate the Tenant with fleet.kdfm.io/skip-cleanup=true to let the deletion finish.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, MutableMapping
from typing import Any, NoReturn

from kdfm_operator import conditions as cond
from kdfm_operator.context import OperatorContext
from kdfm_operator.credentials import new_credential_data
from kdfm_operator.errors import InvalidSpecError, OperatorError
from kdfm_operator.handlers import broker as broker_handler
from kdfm_operator.handlers.outcome import owner_reference, raise_for, skip_cleanup
from kdfm_operator.reconcile import tenant as rt


def _plan(
    ctx: OperatorContext, name: str, namespace: str, spec: rt.TenantSpec, ready: bool | None
) -> rt.TenantPlan:
    s = ctx.settings
    return rt.plan_tenant(
        name,
        namespace,
        spec,
        pki_mount=s.vault_pki_mount,
        agent_domain=s.agent_domain,
        agent_max_ttl=s.agent_cert_max_ttl,
        broker_ready=ready,
    )


async def reconcile(
    ctx: OperatorContext, body: Mapping[str, Any], patch: MutableMapping[str, Any], logger: Any
) -> None:
    """Reconcile one Tenant (create, update, resume, resync timer)."""
    meta = body["metadata"]
    name, namespace, generation = meta["name"], meta["namespace"], meta.get("generation")
    now = ctx.clock()
    status = patch.setdefault("status", {})
    status["observedGeneration"] = generation
    old_conditions = (body.get("status") or {}).get("conditions")

    def fail(reason: str, err: OperatorError) -> NoReturn:
        status["conditions"] = cond.merge(
            old_conditions,
            [cond.Condition(cond.READY, False, reason, str(err))],
            generation=generation,
            now=now,
        )
        raise_for(err, delay=ctx.settings.retry_delay_s)

    try:
        spec = rt.parse_spec(body.get("spec") or {})
    except InvalidSpecError as err:
        fail("InvalidSpec", err)
    draft = _plan(ctx, name, namespace, spec, None)
    try:
        vault = ctx.operator_vault()
        await asyncio.to_thread(
            vault.ensure_role, draft.role.mount, draft.role.name, draft.role.params
        )
        await asyncio.to_thread(vault.ensure_policy, draft.policy.name, draft.policy.hcl)
    except OperatorError as err:
        fail("VaultUnavailable" if err.retryable else "VaultRefused", err)

    try:
        async with ctx.kube() as kube:
            secret_name = broker_handler.tenant_secret_name(name)
            existing = await kube.get("v1", "Secret", namespace, secret_name)
            if draft.agreement_signed and existing is None:
                await kube.apply(
                    {
                        "apiVersion": "v1",
                        "kind": "Secret",
                        "type": "Opaque",
                        "metadata": {
                            "name": secret_name,
                            "namespace": namespace,
                            "labels": {"app.kubernetes.io/managed-by": "kdfm-operator"},
                            "ownerReferences": [owner_reference(body)],
                        },
                        "data": new_credential_data(name),
                    }
                )
            elif not draft.agreement_signed and existing is not None:
                # No agreement, no credential: nothing of this tenant may reach the broker.
                await kube.delete("v1", "Secret", namespace, secret_name)
            await broker_handler.sync(ctx, kube, namespace, spec.broker)
            broker = await kube.get(broker_handler.API, "Broker", namespace, spec.broker)
    except OperatorError as err:
        fail("BrokerSyncFailed", err)

    plan = _plan(ctx, name, namespace, spec, broker_handler.is_ready(broker))
    status.update(
        {
            "topicNamespace": plan.topic_namespace,
            "vaultRole": plan.role.name,
            "vaultPolicy": plan.policy.name,
            "agreementSigned": plan.agreement_signed,
            "conditions": cond.merge(
                old_conditions, plan.conditions, generation=generation, now=now
            ),
        }
    )
    logger.info(f"tenant {namespace}/{name}: {plan.conditions[0].reason}")


async def cleanup(ctx: OperatorContext, body: Mapping[str, Any], logger: Any) -> None:
    """Remove the tenant's Vault role, policy and broker entries (finalizer)."""
    meta = body["metadata"]
    name, namespace = meta["name"], meta["namespace"]
    broker = ((body.get("spec") or {}).get("brokerRef") or {}).get("name")
    try:
        async with ctx.kube() as kube:
            await kube.delete("v1", "Secret", namespace, broker_handler.tenant_secret_name(name))
            if broker:
                await broker_handler.sync(ctx, kube, namespace, broker)
        if skip_cleanup(meta):
            logger.warning("skip-cleanup annotation set: leaving the Vault role and policy")
            return
        vault = ctx.operator_vault()
        role = rt.role_name(namespace, name)
        await asyncio.to_thread(vault.delete_role, ctx.settings.vault_pki_mount, role)
        await asyncio.to_thread(vault.delete_policy, f"kdfm-tenant-{namespace}-{name}")
    except OperatorError as err:
        raise_for(err, delay=ctx.settings.retry_delay_s)
    logger.info(f"tenant {namespace}/{name}: Vault role, policy and broker entries removed")
