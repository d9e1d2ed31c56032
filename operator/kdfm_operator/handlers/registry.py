"""Wires the per-kind handlers into a kopf registry; the only module that uses kopf decorators.

Building a registry (instead of decorating at import time) lets ``kdfm-operator run`` and the
tests each get their own operator with their own context.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

import kopf

from kdfm_operator.clients.kube import Connection
from kdfm_operator.context import OperatorContext
from kdfm_operator.crds import load_crds
from kdfm_operator.handlers import broker, tenant, vault_certificate

FINALIZER = "fleet.kdfm.io/cleanup"


def build_registry(ctx: OperatorContext) -> kopf.OperatorRegistry:
    """A kopf registry with every KDFM handler bound to ``ctx``."""
    registry = kopf.OperatorRegistry()
    crds = load_crds(ctx.settings.crd_dir)
    s = ctx.settings

    def res(kind: str) -> tuple[str, str, str]:
        crd = crds[kind]
        return crd.group, crd.version, crd.plural

    @kopf.on.startup(registry=registry)
    async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.persistence.finalizer = FINALIZER
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
            prefix="kopf.fleet.kdfm.io"
        )
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix="kopf.fleet.kdfm.io", key="last-handled-configuration"
        )
        settings.posting.level = 20  # events for INFO and above
        settings.watching.server_timeout = 300

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        if ctx.connection is not None:
            c = ctx.connection
            return kopf.ConnectionInfo(
                server=c.server, token=c.token, ca_path=c.ca_path, insecure=c.insecure
            )
        info = kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)
        if info is None:
            raise kopf.LoginError("no in-cluster service account and no kubeconfig found")
        ca_path = info.ca_path if isinstance(info.ca_path, str) else None
        ctx.connection = Connection(
            server=info.server, token=info.token, ca_path=ca_path, insecure=bool(info.insecure)
        )
        return info

    # --- VaultCertificate -------------------------------------------------------------------
    vc = res("VaultCertificate")

    @kopf.on.resume(*vc, registry=registry)
    @kopf.on.create(*vc, registry=registry)
    @kopf.on.update(*vc, field="spec", registry=registry)
    async def certificate_changed(
        body: Mapping[str, Any], patch: MutableMapping[str, Any], logger: Any, **_: Any
    ) -> None:
        await vault_certificate.reconcile(ctx, body, patch, logger)

    @kopf.timer(
        *vc,
        interval=s.renewal_check_s,
        initial_delay=s.renewal_check_s,
        idle=s.renewal_check_s,
        registry=registry,
    )
    async def certificate_timer(
        body: Mapping[str, Any], patch: MutableMapping[str, Any], logger: Any, **_: Any
    ) -> None:
        await vault_certificate.reconcile(ctx, body, patch, logger)

    @kopf.on.delete(*vc, registry=registry)
    async def certificate_deleted(body: Mapping[str, Any], logger: Any, **_: Any) -> None:
        await vault_certificate.revoke_on_delete(ctx, body, logger)

    # --- Tenant ----------------------------------------------------------------------------
    tn = res("Tenant")

    @kopf.on.resume(*tn, registry=registry)
    @kopf.on.create(*tn, registry=registry)
    @kopf.on.update(*tn, field="spec", registry=registry)
    async def tenant_changed(
        body: Mapping[str, Any], patch: MutableMapping[str, Any], logger: Any, **_: Any
    ) -> None:
        await tenant.reconcile(ctx, body, patch, logger)

    @kopf.timer(
        *tn,
        interval=s.resync_interval_s,
        initial_delay=s.resync_interval_s,
        idle=s.resync_interval_s,
        registry=registry,
    )
    async def tenant_resync(
        body: Mapping[str, Any], patch: MutableMapping[str, Any], logger: Any, **_: Any
    ) -> None:
        await tenant.reconcile(ctx, body, patch, logger)

    @kopf.on.delete(*tn, registry=registry)
    async def tenant_deleted(body: Mapping[str, Any], logger: Any, **_: Any) -> None:
        await tenant.cleanup(ctx, body, logger)

    # --- Broker (no finalizer: everything it owns is in Kubernetes and garbage-collected) -------
    br = res("Broker")

    @kopf.on.resume(*br, registry=registry)
    @kopf.on.create(*br, registry=registry)
    @kopf.on.update(*br, field="spec", registry=registry)
    async def broker_changed(
        body: Mapping[str, Any], patch: MutableMapping[str, Any], logger: Any, **_: Any
    ) -> None:
        await broker.reconcile(ctx, body, patch, logger)

    @kopf.timer(
        *br,
        interval=s.resync_interval_s,
        initial_delay=s.resync_interval_s,
        idle=s.resync_interval_s,
        registry=registry,
    )
    async def broker_resync(
        body: Mapping[str, Any], patch: MutableMapping[str, Any], logger: Any, **_: Any
    ) -> None:
        await broker.reconcile(ctx, body, patch, logger)

    return registry
