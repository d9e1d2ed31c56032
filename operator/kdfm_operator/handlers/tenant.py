"""Tenant: Vault role and policy for its agents, broker credential and entries, the gateway's
tenant record (TenantAdmin.ApplyTenant), status.

Deletion (finalizer) retires the tenant on the gateway (its codes and agents are refused from then
on; its readings are kept), then removes the Vault role and policy and the broker entries. When
the gateway or Vault is gone for good, annotate the Tenant with fleet.kdfm.io/skip-cleanup=true
to let the deletion finish.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, MutableMapping
from typing import Any, NoReturn

from kdfm_operator import conditions as cond
from kdfm_operator.context import OperatorContext
from kdfm_operator.credentials import TENANT_COMPONENT, credential_secret
from kdfm_operator.errors import (
    GatewayUnavailableError,
    InvalidSpecError,
    OperatorError,
    VaultTokenMissingError,
)
from kdfm_operator.handlers import broker as broker_handler
from kdfm_operator.handlers.outcome import fail_ready, owner_reference, raise_for, skip_cleanup
from kdfm_operator.reconcile import tenant as rt


def _plan(
    ctx: OperatorContext,
    name: str,
    namespace: str,
    spec: rt.TenantSpec,
    ready: bool | None,
    *,
    gateway: rt.GatewayOutcome | None = None,
) -> rt.TenantPlan:
    s = ctx.settings
    return rt.plan_tenant(
        name,
        namespace,
        spec,
        pki_mount=s.vault_pki_mount,
        agent_max_ttl=s.agent_cert_max_ttl,
        broker_ready=ready,
        gateway_configured=bool(s.gateway_address),
        gateway=gateway,
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
        fail_ready(
            status,
            reason,
            err,
            previous=old_conditions,
            generation=generation,
            now=now,
            delay=ctx.settings.retry_delay_s,
        )

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
    except VaultTokenMissingError as err:
        fail("VaultTokenMissing", err)
    except OperatorError as err:
        fail("VaultUnavailable" if err.retryable else "VaultRefused", err)

    try:
        async with ctx.kube() as kube:
            secret_name = broker_handler.tenant_secret_name(name)
            existing = await kube.get("v1", "Secret", namespace, secret_name)
            if draft.agreement_signed and existing is None:
                # create, never apply: a Secret written meanwhile keeps its password.
                secret, _ = credential_secret(
                    secret_name, namespace, owner_reference(body), name, component=TENANT_COMPONENT
                )
                await kube.create(secret)
            elif not draft.agreement_signed and existing is not None:
                # No agreement, no credential: nothing of this tenant may reach the broker.
                await kube.delete("v1", "Secret", namespace, secret_name)
            broker_ready = (await broker_handler.sync(ctx, kube, namespace, spec.broker)).ready
    except OperatorError as err:
        fail("BrokerSyncFailed", err)

    outcome = None
    client = ctx.gateway()
    if client is not None and draft.gateway is not None:
        try:
            async with client as gateway:
                outcome = await gateway.apply(draft.gateway)
        except OperatorError as err:
            fail("GatewayUnavailable" if err.retryable else "GatewayRefused", err)
        status["gateway"] = {
            "active": outcome.active,
            "agents": outcome.agents,
            "devices": outcome.devices,
        }
    else:
        status["gateway"] = None  # a merge patch: drops what an earlier configuration wrote

    plan = _plan(ctx, name, namespace, spec, broker_ready, gateway=outcome)
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
    """Retire the tenant on the gateway, remove its Vault role, policy and broker entries."""
    meta = body["metadata"]
    name, namespace = meta["name"], meta["namespace"]
    broker = ((body.get("spec") or {}).get("brokerRef") or {}).get("name")
    try:
        async with ctx.kube() as kube:
            await kube.delete("v1", "Secret", namespace, broker_handler.tenant_secret_name(name))
            if broker:
                await broker_handler.sync(ctx, kube, namespace, broker)
        if skip_cleanup(meta):
            logger.warning(
                "skip-cleanup annotation set: leaving the gateway's tenant record, the Vault role "
                "and policy"
            )
            return
        client = ctx.gateway()
        if client is not None:
            async with client as gateway:
                retired = await gateway.retire(name)
            if retired is not None and retired.incomplete:
                # The gateway refuses the agents already; Vault's CRL and the broker lag behind.
                raise GatewayUnavailableError(
                    "tenant retired on the gateway, but: " + "; ".join(retired.incomplete)
                )
            logger.info(
                f"tenant {namespace}/{name}: retired on the gateway"
                + (f" ({len(retired.revoked_agents)} agents refused)" if retired else "")
            )
        vault = ctx.operator_vault()
        role = rt.role_name(name)
        await asyncio.to_thread(vault.delete_role, ctx.settings.vault_pki_mount, role)
        await asyncio.to_thread(vault.delete_policy, rt.policy_name(name))
    except OperatorError as err:
        raise_for(err, delay=ctx.settings.retry_delay_s)
    logger.info(f"tenant {namespace}/{name}: Vault role, policy and broker entries removed")
