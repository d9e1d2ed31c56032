"""Kubernetes-style status conditions: build them in plans, merge them into status without I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

READY = "Ready"
ISSUING = "Issuing"
AGREEMENT_SIGNED = "AgreementSigned"
DURATION_CAPPED = "DurationCapped"


@dataclass(frozen=True)
class Condition:
    """One condition as the plan wants it; lastTransitionTime is decided when merging."""

    type: str
    status: bool | None
    reason: str
    message: str

    @property
    def status_text(self) -> str:
        """The condition status as Kubernetes spells it."""
        if self.status is None:
            return "Unknown"
        return "True" if self.status else "False"


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with a Z, as Kubernetes writes timestamps."""
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> datetime | None:
    """Parse an RFC 3339 timestamp written by Kubernetes or by us; None stays None."""
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def merge(
    existing: Sequence[Mapping[str, Any]] | None,
    wanted: Iterable[Condition],
    *,
    generation: int | None,
    now: datetime,
) -> list[dict[str, Any]]:
    """Return the new conditions list: wanted ones replace their type, others are kept.

    lastTransitionTime only moves when the status changes, so that `kubectl get` shows how long a
    resource has been in its current state, not when the operator last looked.
    """
    by_type: dict[str, dict[str, Any]] = {
        str(c["type"]): dict(c) for c in (existing or ()) if "type" in c
    }
    for cond in wanted:
        old = by_type.get(cond.type)
        status = cond.status_text
        changed = old is None or old.get("status") != status
        entry: dict[str, Any] = {
            "type": cond.type,
            "status": status,
            "reason": cond.reason,
            "message": cond.message,
            "lastTransitionTime": format_time(now)
            if changed or old is None
            else old.get("lastTransitionTime", format_time(now)),
        }
        if generation is not None:
            entry["observedGeneration"] = generation
        by_type[cond.type] = entry
    # Ready first, then alphabetical: stable output keeps status patches minimal.
    return sorted(by_type.values(), key=lambda c: (c["type"] != READY, c["type"]))


def find(conditions: Sequence[Mapping[str, Any]] | None, type_: str) -> Mapping[str, Any] | None:
    """The condition of a type, or None when absent."""
    for cond in conditions or ():
        if cond.get("type") == type_:
            return cond
    return None
