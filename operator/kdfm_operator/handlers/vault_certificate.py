"""VaultCertificate: read the Secret and status, plan, issue through Vault, write Secret and status.

Create/update/resume reconcile at once; a timer re-checks so that renewal happens at renewalTime
and a failed issuance is retried after its backoff. Deletion revokes the serial (finalizer).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, MutableMapping
from datetime import timedelta
from typing import Any

import kopf

from kdfm_operator import conditions as cond
from kdfm_operator.clients.kube import KubeClient
from kdfm_operator.clients.vault import IssuedBundle
from kdfm_operator.context import OperatorContext
from kdfm_operator.credentials import encode_field, read_field
from kdfm_operator.errors import (
    DependencyNotReadyError,
    InvalidSpecError,
    OperatorError,
    VaultError,
    VaultUnavailableError,
)
from kdfm_operator.handlers.outcome import fail_ready, owner_reference, raise_for, skip_cleanup
from kdfm_operator.pem import certificate_info
from kdfm_operator.reconcile import certificate as rc
from kdfm_operator.reconcile.backoff import backoff_delay
from kdfm_operator.reconcile.durations import format_duration

SPEC_HASH = "fleet.kdfm.io/spec-hash"
SERIAL = "fleet.kdfm.io/serial"
MOUNT = "fleet.kdfm.io/pki-mount"


def issued_from_secret(secret: Mapping[str, Any] | None) -> rc.IssuedCertificate | None:
    """The certificate in the Secret, or None when there is none (or it cannot be read)."""
    pem = read_field(secret, "tls.crt")
    if not pem or secret is None:
        return None
    try:
        info = certificate_info(pem)
    except ValueError:
        return None  # a damaged Secret is replaced like a missing one
    annotations = (secret.get("metadata") or {}).get("annotations") or {}
    return rc.IssuedCertificate(
        info.not_before, info.not_after, info.serial, annotations.get(SPEC_HASH)
    )


def tls_secret(
    body: Mapping[str, Any], spec: rc.CertificateSpec, bundle: IssuedBundle
) -> dict[str, Any]:
    """The kubernetes.io/tls Secret for a fresh certificate, owned by the VaultCertificate."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {
            "name": spec.secret_name,
            "namespace": body["metadata"]["namespace"],
            "labels": {
                "app.kubernetes.io/managed-by": "kdfm-operator",
                "app.kubernetes.io/part-of": "kdfm",
            },
            "annotations": {
                SPEC_HASH: spec.fingerprint,
                SERIAL: bundle.info.serial,
                MOUNT: spec.issuer.pki_mount,
            },
            "ownerReferences": [owner_reference(body)],
        },
        "data": {
            "tls.crt": encode_field(bundle.certificate),
            "tls.key": encode_field(bundle.private_key),
            "ca.crt": encode_field(bundle.ca_chain),
        },
    }


def _status_for_issued(
    status: MutableMapping[str, Any], issued: rc.IssuedCertificate, spec: rc.CertificateSpec
) -> None:
    status["notBefore"] = cond.format_time(issued.not_before)
    status["notAfter"] = cond.format_time(issued.not_after)
    status["serial"] = issued.serial
    status["renewalTime"] = cond.format_time(rc.renewal_time(issued, spec.renew_before))
    status["specHash"] = issued.spec_fingerprint


async def _vault_token(
    kube: KubeClient, namespace: str, spec: rc.CertificateSpec
) -> tuple[str, str | None]:
    secret = await kube.get("v1", "Secret", namespace, spec.issuer.auth_secret)
    token = read_field(secret, spec.issuer.auth_key)
    if not token:
        raise DependencyNotReadyError(
            f"Secret {namespace}/{spec.issuer.auth_secret} with key {spec.issuer.auth_key!r} "
            "(the Vault token) does not exist"
        )
    ca_pem = None
    if spec.issuer.ca_bundle_secret:
        bundle = await kube.get("v1", "Secret", namespace, spec.issuer.ca_bundle_secret)
        ca_pem = read_field(bundle, spec.issuer.ca_bundle_key)
        if not ca_pem:
            raise DependencyNotReadyError(
                f"Secret {namespace}/{spec.issuer.ca_bundle_secret} with key "
                f"{spec.issuer.ca_bundle_key!r} (Vault's CA bundle) does not exist"
            )
    return token.strip(), ca_pem


async def reconcile(
    ctx: OperatorContext,
    body: Mapping[str, Any],
    patch: MutableMapping[str, Any],
    logger: Any,
) -> None:
    """Bring one VaultCertificate to its planned state; raises kopf errors on failure."""
    meta, raw_status = body["metadata"], dict(body.get("status") or {})
    namespace, generation = meta["namespace"], meta.get("generation")
    settings, now = ctx.settings, ctx.clock()
    status = patch.setdefault("status", {})
    status["observedGeneration"] = generation

    def set_conditions(wanted: list[cond.Condition]) -> None:
        status["conditions"] = cond.merge(
            raw_status.get("conditions"), wanted, generation=generation, now=now
        )

    try:
        spec = rc.parse_spec(body.get("spec") or {})
    except InvalidSpecError as err:
        fail_ready(
            status,
            "InvalidSpec",
            err,
            previous=raw_status.get("conditions"),
            generation=generation,
            now=now,
            delay=settings.retry_delay_s,
        )

    failures = rc.FailureHistory(
        attempts=int(raw_status.get("failedIssuanceAttempts") or 0),
        last_failure=cond.parse_time(raw_status.get("lastFailureTime")),
    )
    async with ctx.kube() as kube:
        secret = await kube.get("v1", "Secret", namespace, spec.secret_name)
        issued = issued_from_secret(secret)
        kwargs: dict[str, Any] = {
            "backoff_base_s": settings.backoff_base_s,
            "backoff_max_s": settings.backoff_max_s,
            "ca_margin": timedelta(seconds=settings.ca_expiry_margin_s),
        }
        plan = rc.plan_certificate(
            spec, issued, rc.IssuerLimits(None, None), failures, now, **kwargs
        )
        if plan.action is rc.Action.NONE and issued is not None:
            _status_for_issued(status, issued, spec)
            set_conditions(rc.issued_conditions(issued, spec, None))
            return
        if plan.action is rc.Action.BACKOFF:
            set_conditions(
                rc.failure_conditions(issued, "Backoff", plan.message, retrying=True, now=now)
            )
            raise kopf.TemporaryError(plan.message, delay=plan.requeue_after_s or 1.0)

        try:
            token, ca_pem = await _vault_token(kube, namespace, spec)
            vault = ctx.vault(spec.issuer.vault_address, token, ca_pem)
            limits = await asyncio.to_thread(
                vault.issuer_limits, spec.issuer.pki_mount, spec.issuer.role
            )
            plan = rc.plan_certificate(spec, issued, limits, failures, now, **kwargs)
            if plan.action is rc.Action.FAIL or plan.grant is None:
                raise DependencyNotReadyError(plan.message)
            logger.info(f"{plan.reason}: issuing {spec.common_name} ({plan.grant.message})")
            bundle = await asyncio.to_thread(vault.issue, spec, plan.grant.ttl)
            await kube.apply(tls_secret(body, spec, bundle))
        except OperatorError as err:
            attempts = failures.attempts + 1
            reason = _reason(err)
            status["failedIssuanceAttempts"] = attempts
            status["lastFailureTime"] = cond.format_time(now)
            set_conditions(rc.failure_conditions(issued, reason, str(err), retrying=True, now=now))
            delay = backoff_delay(
                attempts, base_s=settings.backoff_base_s, max_s=settings.backoff_max_s
            )
            # Every failure here may heal (Vault unsealed, token Secret created, role fixed),
            # so all retry - with the backoff, never faster.
            raise kopf.TemporaryError(f"{reason}: {err}", delay=delay) from err

    fresh = rc.IssuedCertificate(
        bundle.info.not_before, bundle.info.not_after, bundle.info.serial, spec.fingerprint
    )
    _status_for_issued(status, fresh, spec)
    status["failedIssuanceAttempts"] = 0
    status["lastFailureTime"] = None
    status["grantedDuration"] = format_duration(plan.grant.ttl)
    status["durationCappedBy"] = plan.grant.capped_by or ""
    set_conditions(rc.issued_conditions(fresh, spec, plan.grant))


def _reason(err: OperatorError) -> str:
    if isinstance(err, VaultUnavailableError):
        return "VaultUnavailable"
    if isinstance(err, VaultError):
        return "VaultRefused"
    if isinstance(err, DependencyNotReadyError):
        return "DependencyNotReady"
    return "IssuanceFailed"


async def revoke_on_delete(ctx: OperatorContext, body: Mapping[str, Any], logger: Any) -> None:
    """Revoke the certificate in the Secret before the resource goes (finalizer)."""
    meta = body["metadata"]
    if skip_cleanup(meta):
        logger.warning("skip-cleanup annotation set: not revoking the certificate in Vault")
        return
    try:
        spec = rc.parse_spec(body.get("spec") or {})
    except InvalidSpecError:
        return  # never issued anything with an invalid spec
    async with ctx.kube() as kube:
        secret = await kube.get("v1", "Secret", meta["namespace"], spec.secret_name)
        issued = issued_from_secret(secret)
        if issued is None:
            return
        try:
            token, ca_pem = await _vault_token(kube, meta["namespace"], spec)
            vault = ctx.vault(spec.issuer.vault_address, token, ca_pem)
            await asyncio.to_thread(vault.revoke, spec.issuer.pki_mount, issued.serial)
        except OperatorError as err:
            raise_for(err, delay=ctx.settings.retry_delay_s)
        logger.info(f"revoked certificate serial {issued.serial}")
