"""VaultCertificate plan: issue, reissue, renew or wait, from spec, observed state and clock.

The renewal decision is a chain of small policies in the cert-manager manner: no certificate ->
issue; spec changed -> reissue; renewal time reached -> renew; otherwise wait until renewal time.
A failure history delays any of those by the backoff.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kdfm_operator import conditions as cond
from kdfm_operator.conditions import Condition
from kdfm_operator.errors import InvalidSpecError
from kdfm_operator.reconcile.backoff import backoff_delay, next_attempt
from kdfm_operator.reconcile.durations import format_duration, parse_duration

DEFAULT_DURATION = "2160h"
DEFAULT_RENEW_BEFORE = "720h"
# renewBefore may use at most this share of the lifetime; a longer one would renew constantly.
MAX_RENEW_SHARE = 2 / 3


@dataclass(frozen=True)
class Issuer:
    """Where to get the certificate signed."""

    vault_address: str
    pki_mount: str
    role: str
    auth_secret: str
    auth_key: str
    ca_bundle_secret: str | None
    ca_bundle_key: str


@dataclass(frozen=True)
class CertificateSpec:
    """The spec of a VaultCertificate, parsed and defaulted."""

    common_name: str
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    duration: timedelta
    renew_before: timedelta
    usages: tuple[str, ...]
    issuer: Issuer
    secret_name: str
    uri_sans: tuple[str, ...] = ()

    @property
    def fingerprint(self) -> str:
        """Hash of everything that ends up in the certificate: a change means reissue."""
        material = {
            "cn": self.common_name,
            "dns": sorted(self.dns_names),
            "ip": sorted(self.ip_addresses),
            "duration": self.duration.total_seconds(),
            "usages": sorted(self.usages),
            "issuer": [self.issuer.vault_address, self.issuer.pki_mount, self.issuer.role],
            "secret": self.secret_name,
        }
        if self.uri_sans:  # only when set: certificates issued before uriSans keep their hash
            material["uri"] = sorted(self.uri_sans)
        return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:16]


def parse_spec(spec: Mapping[str, Any]) -> CertificateSpec:
    """Parse a VaultCertificate spec; a field the schema should have refused raises by name."""
    try:
        issuer = spec["issuer"]
        auth = issuer["authRef"]
        bundle = issuer.get("caBundleSecretRef") or {}
        duration = parse_duration(str(spec.get("duration") or DEFAULT_DURATION))
        renew_before = parse_duration(str(spec.get("renewBefore") or DEFAULT_RENEW_BEFORE))
        return CertificateSpec(
            common_name=str(spec["commonName"]),
            dns_names=tuple(str(n) for n in spec.get("dnsNames") or ()),
            ip_addresses=tuple(str(a) for a in spec.get("ipAddresses") or ()),
            duration=duration,
            renew_before=renew_before,
            usages=tuple(str(u) for u in spec.get("usages") or ("server auth",)),
            issuer=Issuer(
                vault_address=str(issuer["vaultAddress"]),
                pki_mount=str(issuer["pkiMount"]),
                role=str(issuer["role"]),
                auth_secret=str(auth["secretName"]),
                auth_key=str(auth.get("key") or "token"),
                ca_bundle_secret=str(bundle["name"]) if bundle.get("name") else None,
                ca_bundle_key=str(bundle.get("key") or "ca.crt"),
            ),
            secret_name=str(spec["secretName"]),
            uri_sans=tuple(str(u) for u in spec.get("uriSans") or ()),
        )
    except KeyError as err:
        raise InvalidSpecError(
            f"VaultCertificate spec lacks required field {err.args[0]!r}"
        ) from err
    except ValueError as err:
        raise InvalidSpecError(f"VaultCertificate spec: {err}") from err


@dataclass(frozen=True)
class IssuedCertificate:
    """The certificate now in the Secret, as far as the status and the Secret tell."""

    not_before: datetime
    not_after: datetime
    serial: str
    spec_fingerprint: str | None


@dataclass(frozen=True)
class IssuerLimits:
    """What Vault allows: None where Vault did not tell (the cap is then not applied)."""

    ca_not_after: datetime | None
    role_max_ttl: timedelta | None


@dataclass(frozen=True)
class FailureHistory:
    """Consecutive failed issuances since the last success."""

    attempts: int = 0
    last_failure: datetime | None = None


class Action(enum.Enum):
    """What the plan asks the handler to do."""

    NONE = "none"
    ISSUE = "issue"
    REISSUE = "reissue"
    RENEW = "renew"
    BACKOFF = "backoff"
    FAIL = "fail"


@dataclass(frozen=True)
class Grant:
    """The lifetime to request after caps, and which cap bit (None when the spec's own is used)."""

    ttl: timedelta
    capped_by: str | None
    message: str


@dataclass(frozen=True)
class CertificatePlan:
    """The decision for one VaultCertificate at one moment."""

    action: Action
    reason: str
    message: str
    grant: Grant | None
    renewal_time: datetime | None
    requeue_after_s: float | None

    @property
    def issues(self) -> bool:
        """Whether the handler must ask Vault for a new certificate now."""
        return self.action in (Action.ISSUE, Action.REISSUE, Action.RENEW)


def grant_lifetime(
    requested: timedelta, limits: IssuerLimits, now: datetime, *, ca_margin: timedelta
) -> Grant:
    """Cap the requested lifetime at the role's max TTL and at the CA's own expiry."""
    ttl, capped_by, message = requested, None, f"lifetime {format_duration(requested)} as requested"
    if limits.role_max_ttl is not None and limits.role_max_ttl < ttl:
        ttl, capped_by = limits.role_max_ttl, "RoleMaxTTL"
        message = (
            f"lifetime capped from {format_duration(requested)} to {format_duration(ttl)}: "
            "the Vault role's max TTL"
        )
    if limits.ca_not_after is not None:
        until_ca = limits.ca_not_after - now - ca_margin
        if until_ca < ttl:
            ttl, capped_by = until_ca, "CAExpiry"
            message = (
                f"lifetime capped from {format_duration(requested)} to {format_duration(ttl)}: "
                f"the issuing CA expires at {cond.format_time(limits.ca_not_after)}"
            )
    # Whole seconds: Vault takes TTLs in seconds, and equal inputs must give equal plans.
    ttl = timedelta(seconds=int(ttl.total_seconds()))
    return Grant(ttl=ttl, capped_by=capped_by, message=message)


def renewal_time(issued: IssuedCertificate, renew_before: timedelta) -> datetime:
    """notAfter minus renewBefore, with renewBefore limited to two thirds of the lifetime."""
    lifetime = issued.not_after - issued.not_before
    effective = min(renew_before, lifetime * MAX_RENEW_SHARE)
    return issued.not_after - effective


def plan_certificate(
    spec: CertificateSpec,
    issued: IssuedCertificate | None,
    limits: IssuerLimits,
    failures: FailureHistory,
    now: datetime,
    *,
    backoff_base_s: float,
    backoff_max_s: float,
    ca_margin: timedelta,
) -> CertificatePlan:
    """Decide what to do with one certificate now."""
    if issued is None:
        action, reason, message = Action.ISSUE, "DoesNotExist", "no certificate issued yet"
    elif issued.spec_fingerprint != spec.fingerprint:
        action, reason, message = (
            Action.REISSUE,
            "SpecChanged",
            "the spec changed since the certificate was issued",
        )
    elif now >= renewal_time(issued, spec.renew_before):
        action, reason, message = (
            Action.RENEW,
            "Renewing",
            f"renewal time {cond.format_time(renewal_time(issued, spec.renew_before))} reached",
        )
    else:
        due = renewal_time(issued, spec.renew_before)
        return CertificatePlan(
            action=Action.NONE,
            reason="UpToDate",
            message=f"certificate valid until {cond.format_time(issued.not_after)}",
            grant=None,
            renewal_time=due,
            requeue_after_s=max(1.0, (due - now).total_seconds()),
        )

    retry_at = next_attempt(
        failures.attempts, failures.last_failure, base_s=backoff_base_s, max_s=backoff_max_s
    )
    if retry_at is not None and now < retry_at:
        delay = backoff_delay(failures.attempts, base_s=backoff_base_s, max_s=backoff_max_s)
        return CertificatePlan(
            action=Action.BACKOFF,
            reason="Backoff",
            message=(
                f"{failures.attempts} failed issuance attempt(s); next attempt at "
                f"{cond.format_time(retry_at)} (backoff {delay:.0f}s); {message}"
            ),
            grant=None,
            renewal_time=renewal_time(issued, spec.renew_before) if issued else None,
            requeue_after_s=max(1.0, (retry_at - now).total_seconds()),
        )

    grant = grant_lifetime(spec.duration, limits, now, ca_margin=ca_margin)
    if grant.ttl <= timedelta(0):
        return CertificatePlan(
            action=Action.FAIL,
            reason="CAExpired",
            message=(
                "the issuing CA expires within the safety margin; no certificate can be issued "
                "until the CA is renewed"
            ),
            grant=grant,
            renewal_time=None,
            requeue_after_s=None,
        )
    return CertificatePlan(
        action=action,
        reason=reason,
        message=message,
        grant=grant,
        renewal_time=None,
        requeue_after_s=None,
    )


def issued_conditions(
    issued: IssuedCertificate, spec: CertificateSpec, grant: Grant | None
) -> list[Condition]:
    """Conditions after a certificate is in place (fresh or still valid)."""
    due = renewal_time(issued, spec.renew_before)
    out = [
        Condition(
            cond.READY,
            True,
            "Issued",
            f"certificate serial {issued.serial} valid until {cond.format_time(issued.not_after)}, "
            f"renewal at {cond.format_time(due)}",
        ),
        Condition(cond.ISSUING, False, "UpToDate", "no issuance in progress"),
    ]
    if grant is not None:
        out.append(
            Condition(
                cond.DURATION_CAPPED,
                grant.capped_by is not None,
                grant.capped_by or "NotCapped",
                grant.message,
            )
        )
    return out


def failure_conditions(
    issued: IssuedCertificate | None, reason: str, message: str, *, retrying: bool, now: datetime
) -> list[Condition]:
    """Conditions after a failed issuance: Ready stays True while the old certificate is valid."""
    still_valid = issued is not None and issued.not_after > now
    retry_note = "retrying with backoff" if retrying else "not retrying until the spec changes"
    ready = Condition(
        cond.READY,
        still_valid,
        reason,
        (
            f"{message}; the current certificate (valid until "
            f"{cond.format_time(issued.not_after)}) is kept; {retry_note}"
            if still_valid and issued is not None
            else f"{message}; {retry_note}"
        ),
    )
    return [ready, Condition(cond.ISSUING, retrying, reason, f"{message}; {retry_note}")]
