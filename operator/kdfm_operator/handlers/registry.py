"""Wires the per-kind handlers into a kopf registry; the only module that uses kopf decorators.

Building a registry (instead of decorating at import time) lets ``kdfm-operator run`` and the
tests each get their own operator with their own context.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from typing import Any

import kopf
import yaml

from kdfm_operator.clients.kube import Connection, KubeClient, pem_text
from kdfm_operator.context import OperatorContext
from kdfm_operator.crds import load_crds
from kdfm_operator.errors import KubeApiError, KubeCredentialsError
from kdfm_operator.handlers import broker, tenant, vault_certificate

FINALIZER = "fleet.kdfm.io/cleanup"


def connection_from_login(info: kopf.ConnectionInfo) -> Connection:
    """Our API client's copy of what kopf logged in with: every credential, base64 decoded.

    The TLS context is built here, so that a missing file or a broken PEM stops the login with
    a KubeCredentialsError naming it instead of failing every later API call.
    """
    connection = Connection(
        server=info.server,
        token=info.token,
        scheme=info.scheme,
        username=info.username,
        password=info.password,
        ca_path=_text_path(info.ca_path),
        ca_data=pem_text(info.ca_data, "certificate-authority-data"),
        certificate_path=_text_path(info.certificate_path),
        certificate_data=pem_text(info.certificate_data, "client-certificate-data"),
        private_key_path=_text_path(info.private_key_path),
        private_key_data=pem_text(info.private_key_data, "client-key-data"),
        insecure=bool(info.insecure),
    )
    _ = connection.ssl_context
    return connection


async def first_login(**kwargs: Any) -> tuple[kopf.ConnectionInfo, Connection]:
    """The service account's or the kubeconfig's credentials, proven by one API request.

    Raises KubeCredentialsError when retrying cannot help (no kubeconfig, a file it names is
    missing, the server refuses the handshake or the credentials), KubeApiError when it may.
    """
    try:
        info = kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)
    except (OSError, LookupError, ValueError, yaml.YAMLError, kopf.LoginError) as err:
        raise KubeCredentialsError(
            f"the kubeconfig cannot be used: {type(err).__name__}: {err}"
        ) from err
    if info is None:
        raise KubeCredentialsError(
            "no in-cluster service account and no kubeconfig (KUBECONFIG or ~/.kube/config)"
        )
    connection = connection_from_login(info)
    async with KubeClient(connection) as kube:
        await kube.check_access()
    return info, connection


def login_info(connection: Connection) -> kopf.ConnectionInfo:
    """kopf's credentials for a connection we hold (PEM text is what kopf accepts as data)."""
    c = connection
    return kopf.ConnectionInfo(
        server=c.server,
        token=c.token,
        scheme=c.scheme,
        username=c.username,
        password=c.password,
        ca_path=c.ca_path,
        ca_data=c.ca_data,
        certificate_path=c.certificate_path,
        certificate_data=c.certificate_data,
        private_key_path=c.private_key_path,
        private_key_data=c.private_key_data,
        insecure=c.insecure,
    )


def _text_path(path: str | bytes | os.PathLike[str] | os.PathLike[bytes] | None) -> str | None:
    return os.fsdecode(path) if path else None


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
    async def login(logger: Any, **kwargs: Any) -> kopf.ConnectionInfo | None:
        if ctx.connection is not None:
            # Re-login after kopf dropped its credentials: the same ones, client certificate too.
            return login_info(ctx.connection)
        try:
            info, connection = await first_login(logger=logger, **kwargs)
        except KubeApiError as err:
            if err.retryable:
                delay = ctx.settings.retry_delay_s
                raise kopf.TemporaryError(f"login: {err}", delay=delay) from err
            # Raising here would leave kopf waiting for credentials forever (its credentials
            # task dies, the rest waits); with none at all it stops at its first API call.
            ctx.login_error = f"login failed, not retrying: {err}"
            logger.error(ctx.login_error)
            return None
        ctx.connection = connection
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
