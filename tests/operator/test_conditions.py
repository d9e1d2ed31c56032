"""Condition merging: transition times, generations, ordering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kdfm_operator import conditions
from kdfm_operator.conditions import Condition

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_new_condition_gets_all_fields() -> None:
    out = conditions.merge(
        None, [Condition("Ready", False, "Pending", "waiting")], generation=3, now=T0
    )
    assert out == [
        {
            "type": "Ready",
            "status": "False",
            "reason": "Pending",
            "message": "waiting",
            "lastTransitionTime": "2026-01-01T00:00:00Z",
            "observedGeneration": 3,
        }
    ]


def test_transition_time_moves_only_on_status_change() -> None:
    first = conditions.merge(None, [Condition("Ready", False, "A", "a")], generation=1, now=T0)
    same = conditions.merge(
        first, [Condition("Ready", False, "B", "b")], generation=2, now=T0 + timedelta(hours=1)
    )
    assert same[0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert same[0]["reason"] == "B" and same[0]["observedGeneration"] == 2
    flipped = conditions.merge(
        same, [Condition("Ready", True, "C", "c")], generation=2, now=T0 + timedelta(hours=2)
    )
    assert flipped[0]["lastTransitionTime"] == "2026-01-01T02:00:00Z"
    assert flipped[0]["status"] == "True"


def test_other_types_are_kept_and_ready_first() -> None:
    first = conditions.merge(
        None,
        [Condition("Issuing", True, "X", "x"), Condition("AgreementSigned", None, "Y", "y")],
        generation=1,
        now=T0,
    )
    out = conditions.merge(first, [Condition("Ready", True, "Z", "z")], generation=1, now=T0)
    assert [c["type"] for c in out] == ["Ready", "AgreementSigned", "Issuing"]
    assert conditions.find(out, "AgreementSigned")["status"] == "Unknown"  # type: ignore[index]
    assert conditions.find(out, "Nope") is None


def test_time_round_trip() -> None:
    assert conditions.parse_time(conditions.format_time(T0)) == T0
    assert conditions.parse_time(None) is None
