"""Go-style durations ("2160h", "1h30m", "90s") as used in the CRDs and by Vault."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+)(h|m|s)")
_WHOLE = re.compile(r"^(\d+(h|m|s))+$")
_UNIT_S = {"h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> timedelta:
    """Parse a duration made of hours, minutes and seconds; anything else is refused by name."""
    if not _WHOLE.match(text):
        raise ValueError(f"duration {text!r} is not a Go duration of h, m and s parts (e.g. 2160h)")
    seconds = sum(int(n) * _UNIT_S[u] for n, u in _PART.findall(text))
    if seconds <= 0:
        raise ValueError(f"duration {text!r} must be longer than zero")
    return timedelta(seconds=seconds)


def format_duration(span: timedelta) -> str:
    """Write a duration the way Vault and the CRDs read it, in whole seconds ("3h2m5s")."""
    total = int(span.total_seconds())
    if total <= 0:
        return "0s"
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    out = ""
    if hours:
        out += f"{hours}h"
    if minutes:
        out += f"{minutes}m"
    if seconds:
        out += f"{seconds}s"
    return out
