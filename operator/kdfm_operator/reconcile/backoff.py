"""The one place that decides how long to wait after a failure."""

from __future__ import annotations

from datetime import datetime, timedelta


def backoff_delay(failures: int, *, base_s: float, max_s: float) -> float:
    """Seconds to wait after the n-th consecutive failure: base, 2*base, 4*base ... up to max."""
    if failures <= 0:
        return 0.0
    # Cap the exponent first: 2**1000 would overflow float long before max_s matters.
    return float(min(max_s, base_s * (2 ** min(failures - 1, 32))))


def next_attempt(
    failures: int, last_failure: datetime | None, *, base_s: float, max_s: float
) -> datetime | None:
    """When the next attempt may run; None means now (no failure on record)."""
    if failures <= 0 or last_failure is None:
        return None
    return last_failure + timedelta(seconds=backoff_delay(failures, base_s=base_s, max_s=max_s))
