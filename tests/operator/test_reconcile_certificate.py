"""VaultCertificate plans: issue/reissue/renew decisions, renewal window, caps and backoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from kdfm_operator.errors import InvalidSpecError
from kdfm_operator.reconcile import certificate as rc
from kdfm_operator.reconcile.backoff import backoff_delay, next_attempt
from kdfm_operator.reconcile.durations import format_duration, parse_duration

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
MARGIN = timedelta(minutes=5)
NO_LIMITS = rc.IssuerLimits(ca_not_after=None, role_max_ttl=None)


def spec(**over: object) -> rc.CertificateSpec:
    raw: dict[str, object] = {
        "commonName": "broker.kdfm.example",
        "dnsNames": ["broker.kdfm.example"],
        "duration": "2160h",
        "renewBefore": "720h",
        "issuer": {
            "vaultAddress": "https://vault:8200",
            "pkiMount": "pki_int",
            "role": "broker",
            "authRef": {"secretName": "vault-token"},
        },
        "secretName": "broker-tls",
    }
    raw.update(over)
    return rc.parse_spec(raw)


def plan(
    s: rc.CertificateSpec,
    issued: rc.IssuedCertificate | None,
    *,
    limits: rc.IssuerLimits = NO_LIMITS,
    failures: rc.FailureHistory | None = None,
    now: datetime = NOW,
) -> rc.CertificatePlan:
    return rc.plan_certificate(
        s,
        issued,
        limits,
        failures or rc.FailureHistory(),
        now,
        backoff_base_s=30,
        backoff_max_s=3600,
        ca_margin=MARGIN,
    )


def issued_for(s: rc.CertificateSpec, start: datetime, lifetime: timedelta) -> rc.IssuedCertificate:
    return rc.IssuedCertificate(start, start + lifetime, "aa:bb", s.fingerprint)


def test_durations_parse_and_format_round_trip() -> None:
    assert parse_duration("2160h") == timedelta(days=90)
    assert parse_duration("1h30m5s") == timedelta(hours=1, minutes=30, seconds=5)
    assert format_duration(timedelta(hours=1, minutes=30, seconds=5)) == "1h30m5s"
    assert format_duration(timedelta(days=90)) == "2160h"
    for bad in ("90d", "", "1.5h", "h", "0s", "-1h"):
        with pytest.raises(ValueError, match="duration"):
            parse_duration(bad)


def test_spec_defaults_and_bad_duration_named() -> None:
    s = spec(duration=None, renewBefore=None, usages=None)
    assert s.duration == timedelta(hours=2160)
    assert s.renew_before == timedelta(hours=720)
    assert s.usages == ("server auth",)
    assert s.issuer.auth_key == "token"
    with pytest.raises(InvalidSpecError, match="90d"):
        spec(duration="90d")
    with pytest.raises(InvalidSpecError, match="secretName"):
        rc.parse_spec(
            {
                "commonName": "x",
                "issuer": {
                    "vaultAddress": "http://v",
                    "pkiMount": "p",
                    "role": "r",
                    "authRef": {"secretName": "s"},
                },
            }
        )


def test_no_certificate_means_issue_with_requested_lifetime() -> None:
    p = plan(spec(), None)
    assert p.action is rc.Action.ISSUE and p.issues
    assert p.reason == "DoesNotExist"
    assert p.grant is not None
    assert p.grant.ttl == timedelta(hours=2160)
    assert p.grant.capped_by is None


def test_valid_certificate_waits_until_renewal_time() -> None:
    s = spec()
    issued = issued_for(s, NOW - timedelta(days=10), timedelta(days=90))
    p = plan(s, issued)
    assert p.action is rc.Action.NONE and not p.issues
    # renewBefore 720h = 30 days before notAfter (day 90) -> day 60 after start.
    assert p.renewal_time == issued.not_before + timedelta(days=60)
    assert p.requeue_after_s == pytest.approx(timedelta(days=50).total_seconds())


def test_renewal_time_reached_means_renew() -> None:
    s = spec()
    issued = issued_for(s, NOW - timedelta(days=60), timedelta(days=90))
    p = plan(s, issued)
    assert p.action is rc.Action.RENEW
    assert p.reason == "Renewing"
    # One second earlier it would still wait.
    assert plan(s, issued, now=NOW - timedelta(seconds=1)).action is rc.Action.NONE


def test_renew_before_longer_than_lifetime_is_limited_to_two_thirds() -> None:
    s = spec(duration="3h", renewBefore="720h")
    issued = issued_for(s, NOW, timedelta(hours=3))
    # Two thirds of 3h = 2h before notAfter -> renew after 1h.
    assert rc.renewal_time(issued, s.renew_before) == NOW + timedelta(hours=1)
    assert plan(s, issued, now=NOW + timedelta(minutes=59)).action is rc.Action.NONE
    assert plan(s, issued, now=NOW + timedelta(hours=1)).action is rc.Action.RENEW


def test_spec_change_means_reissue_even_when_valid() -> None:
    old = spec()
    issued = issued_for(old, NOW - timedelta(days=1), timedelta(days=90))
    for changed in (
        spec(dnsNames=["broker.kdfm.example", "mqtt.kdfm.example"]),
        spec(commonName="other.kdfm.example"),
        spec(duration="720h"),
        spec(secretName="elsewhere"),
    ):
        p = plan(changed, issued)
        assert p.action is rc.Action.REISSUE, changed
        assert p.reason == "SpecChanged"
    # renewBefore does not change the certificate itself: no reissue, only a new renewal time.
    assert plan(spec(renewBefore="24h"), issued).action is rc.Action.NONE


def test_role_max_ttl_caps_and_says_so() -> None:
    p = plan(spec(), None, limits=rc.IssuerLimits(None, timedelta(hours=720)))
    assert p.grant is not None
    assert p.grant.ttl == timedelta(hours=720)
    assert p.grant.capped_by == "RoleMaxTTL"
    assert "2160h" in p.grant.message and "720h" in p.grant.message


def test_ca_expiry_caps_below_role_max_ttl() -> None:
    ca_end = NOW + timedelta(days=10)
    p = plan(spec(), None, limits=rc.IssuerLimits(ca_end, timedelta(hours=720)))
    assert p.grant is not None
    assert p.grant.capped_by == "CAExpiry"
    assert p.grant.ttl == timedelta(days=10) - MARGIN
    assert "2026-06-11T12:00:00Z" in p.grant.message


def test_ca_expired_is_a_failure_not_an_issue() -> None:
    p = plan(spec(), None, limits=rc.IssuerLimits(NOW + timedelta(minutes=1), None))
    assert p.action is rc.Action.FAIL
    assert p.reason == "CAExpired"
    assert not p.issues


def test_backoff_doubles_and_caps() -> None:
    assert [backoff_delay(n, base_s=30, max_s=3600) for n in range(0, 10)] == [
        0,
        30,
        60,
        120,
        240,
        480,
        960,
        1920,
        3600,
        3600,
    ]
    assert backoff_delay(10_000, base_s=30, max_s=3600) == 3600
    assert next_attempt(0, None, base_s=30, max_s=3600) is None
    assert next_attempt(3, NOW, base_s=30, max_s=3600) == NOW + timedelta(seconds=120)


def test_failure_history_delays_issue_until_backoff_expires() -> None:
    failures = rc.FailureHistory(attempts=3, last_failure=NOW - timedelta(seconds=100))
    p = plan(spec(), None, failures=failures)
    assert p.action is rc.Action.BACKOFF
    assert p.requeue_after_s == pytest.approx(20)
    assert "3 failed issuance attempt(s)" in p.message
    later = plan(spec(), None, failures=failures, now=NOW + timedelta(seconds=20))
    assert later.action is rc.Action.ISSUE


def test_failure_keeps_ready_while_old_certificate_is_valid() -> None:
    s = spec()
    issued = issued_for(s, NOW - timedelta(days=60), timedelta(days=90))
    ready, issuing = rc.failure_conditions(
        issued, "VaultUnavailable", "Vault is sealed", retrying=True, now=NOW
    )
    assert ready.status is True and ready.reason == "VaultUnavailable"
    assert "kept" in ready.message and "retrying" in ready.message
    assert issuing.status is True
    expired = issued_for(s, NOW - timedelta(days=100), timedelta(days=90))
    ready, _ = rc.failure_conditions(
        expired, "VaultUnavailable", "Vault is sealed", retrying=True, now=NOW
    )
    assert ready.status is False
    ready, issuing = rc.failure_conditions(None, "VaultRefused", "denied", retrying=False, now=NOW)
    assert ready.status is False and issuing.status is False
    assert "not retrying" in ready.message


def test_issued_conditions_report_cap() -> None:
    s = spec()
    issued = issued_for(s, NOW, timedelta(hours=720))
    grant = rc.Grant(timedelta(hours=720), "RoleMaxTTL", "capped")
    conds = {c.type: c for c in rc.issued_conditions(issued, s, grant)}
    assert conds["Ready"].status is True and conds["Ready"].reason == "Issued"
    assert conds["Issuing"].status is False
    assert conds["DurationCapped"].status is True
    assert conds["DurationCapped"].reason == "RoleMaxTTL"


def test_plan_is_deterministic() -> None:
    s = spec()
    assert plan(s, None) == plan(s, None)
    assert spec().fingerprint == spec().fingerprint
