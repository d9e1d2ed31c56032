"""Page counters across two polls of the same device: 32-bit wraps added back, decreases flagged.

prtMarkerLifeCount and most vendor page counters are Counter32 (RFC 3805): at 2^32 they start
again from 0, so a value far below the previous one is usually a wrap, not a new device. A counter
that goes down without having wrapped (a replaced controller board, a firmware reset, a meter
swapped by service) is reported, never silently stored: the reading keeps the raw value and gets a
`DeviceError(code="counter_decreased")` naming the counter's OID. The model has no field for it.

Pure functions: no I/O, no clock; the caller keeps the previous reading's counters.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from kdfm_agent.model import Counter, DeviceError

COUNTER32_MODULUS = 2**32
"""A Counter32 counts modulo 2^32 (RFC 2578 7.1.6)."""

DECREASED = "counter_decreased"
"""`DeviceError.code` of a counter that went down without wrapping."""


@dataclass(frozen=True, slots=True)
class WrapPolicy:
    """When a drop in a counter is taken for a 32-bit wrap rather than a reset."""

    near_top: int = COUNTER32_MODULUS - 2**24
    """The previous raw value must be at least this (within 2^24 pages of 2^32) to have wrapped."""
    max_after_wrap: int = 2**24
    """The new raw value must be below this (a device prints far fewer pages between two polls)."""


def carry_over(
    previous: Iterable[Counter],
    current: Iterable[Counter],
    policy: WrapPolicy | None = None,
) -> tuple[tuple[Counter, ...], tuple[DeviceError, ...]]:
    """(counters, findings) of this poll given the previous poll's counters of the same device.

    Counters are matched by `source` (their OID). A previous value at or above 2^32 means earlier
    wraps were already added: the wrap count is carried on, so a counter that wrapped once keeps
    counting from 2^32 after its raw value falls again. A wrap (previous raw value near 2^32, new
    raw value small) adds 2^32; any other decrease keeps the raw value and yields a
    `counter_decreased` finding. Counters without a previous value pass unchanged.
    """
    policy = policy or WrapPolicy()
    before = {counter.source: counter.value for counter in previous}
    counters: list[Counter] = []
    findings: list[DeviceError] = []
    for counter in current:
        old = before.get(counter.source)
        if old is None:
            counters.append(counter)
            continue
        if counter.value >= COUNTER32_MODULUS:
            # Beyond 32 bits (a Counter64 or a counter sent as text): no wrap arithmetic.
            if counter.value < old:
                findings.append(_decreased(counter, old))
            counters.append(counter)
            continue
        wraps, old_raw = divmod(old, COUNTER32_MODULUS)
        value = wraps * COUNTER32_MODULUS + counter.value
        if counter.value < old_raw:
            if old_raw >= policy.near_top and 0 <= counter.value < policy.max_after_wrap:
                value += COUNTER32_MODULUS
            else:
                findings.append(_decreased(counter, old_raw))
                value = counter.value
        counters.append(replace(counter, value=value))
    return tuple(counters), tuple(findings)


def _decreased(counter: Counter, before: int) -> DeviceError:
    return DeviceError(
        code=DECREASED,
        message=(
            f"counter {counter.name} went down from {before} to {counter.value} without a 32-bit"
            " wrap (device reset or replaced?); the raw value is kept"
        ),
        oid=counter.source,
    )
