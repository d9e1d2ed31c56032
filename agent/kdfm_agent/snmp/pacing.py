"""How many devices are read at once: a limit that follows the round-trip time, not a constant.

A fixed concurrency either wastes a fast site or floods a slow one: when the printers (or the
agent's own CPU) are saturated, extra requests only queue, their replies come after the timeout,
and the resends double the load (a resend storm). The limiter grows the number of devices in
flight by one while requests come back about as fast as the fastest seen recently, and shrinks it
when they slow down (queueing) or time out, the way TCP Vegas paces a connection.

"Slow" is measured both ways: a smoothed round trip `queueing_factor` times the recent minimum
*and* at least `queueing_delay` over it. On a LAN a reply takes a fraction of a millisecond, and a
single-threaded agent with k devices in flight delays each reply it handles by k times its own
per-reply work: the ratio alone reads that as network queueing and kept the limit at its initial
8 of 64 (1000 devices on loopback). Too few requests in flight is not free for the devices either:
an agent like net-snmp's snmpd then wakes up once per datagram (0.2 ms of its CPU for a GET
answered from 1000 sockets, 0.05 ms with 64 in flight).

Sessions report each request's round trip through `observe_request`, which finds the limiter of
the device being read in a context variable set by `slot()`: the session API stays unchanged and
a session used outside a limiter reports to nobody.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from kdfm_agent.errors import ConfigError


@dataclass(frozen=True, slots=True)
class PacingSettings:
    """Bounds and sensitivity of the adaptive device concurrency."""

    ceiling: int = 64
    """Most devices read at the same time, whatever the round-trip times."""
    floor: int = 2
    """Fewest devices read at the same time, even when every request is slow."""
    initial: int = 8
    """Devices in flight before the first round trips are measured."""
    queueing_factor: float = 2.0
    """A smoothed round trip this many times the recent minimum means requests are queueing."""
    queueing_delay: float = 0.1
    """Seconds a smoothed round trip must also exceed the recent minimum by to mean queueing."""
    window: int = 200
    """Requests after which the minimum round trip is forgotten (the network may have changed)."""

    def __post_init__(self) -> None:
        if not 1 <= self.floor <= self.initial <= self.ceiling:
            raise ConfigError(
                f"pacing needs 1 <= floor <= initial <= ceiling, got floor={self.floor}, "
                f"initial={self.initial}, ceiling={self.ceiling}"
            )
        if self.queueing_factor <= 1.0:
            raise ConfigError(f"queueing_factor must exceed 1, got {self.queueing_factor}")
        if self.queueing_delay < 0:
            raise ConfigError(f"queueing_delay must be 0 or more, got {self.queueing_delay}")
        if self.window < 1:
            raise ConfigError(f"the pacing window must be at least 1, got {self.window}")


_current: contextvars.ContextVar[AdaptiveLimiter | None] = contextvars.ContextVar(
    "kdfm_pacing_limiter", default=None
)


def observe_request(seconds: float | None) -> None:
    """Report one request's round trip (None: it timed out) to the limiter of this device."""
    limiter = _current.get()
    if limiter is None:
        return
    if seconds is None:
        limiter.timed_out()
    else:
        limiter.observe(seconds)


class AdaptiveLimiter:
    """`async with limiter.slot():` around each device; the limit follows the round trips."""

    def __init__(self, settings: PacingSettings | None = None, *, ceiling: int | None = None):
        if settings is None:
            base = PacingSettings()
            top = ceiling if ceiling is not None else base.ceiling
            settings = PacingSettings(
                ceiling=top, floor=min(base.floor, top), initial=min(base.initial, top)
            )
        self.settings = settings
        self.limit = float(settings.initial)
        self.peak = 0
        # For logs and benchmarks: requests that came back, and requests of devices that had
        # answered before which then got no reply in time (each one a resend or a give-up).
        self.answered = 0
        self.timeouts = 0
        self._in_flight = 0
        # One future per waiting device, woken one at a time in arrival order: a Condition's
        # notify_all would wake every waiter for each freed place (quadratic with 1000 devices).
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._min_rtt: float | None = None
        self._next_min_rtt: float | None = None
        self._smoothed: float | None = None
        self._samples = 0
        self._since_adjust = 0
        self._slow_start = True

    @property
    def in_flight(self) -> int:
        """Devices being read now."""
        return self._in_flight

    @property
    def round_trip(self) -> float | None:
        """The smoothed round trip in seconds, None before the first reply."""
        return self._smoothed

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait for room under the limit, then hold one place while the body runs."""
        if self._in_flight >= int(self.limit) or self._waiters:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter  # _release_waiters counted us in before waking us
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._in_flight -= 1  # woken and cancelled at once: give the place back
                    self._release_waiters()
                elif waiter in self._waiters:
                    self._waiters.remove(waiter)
                raise
        else:
            self._in_flight += 1
        self.peak = max(self.peak, self._in_flight)
        token = _current.set(self)
        try:
            yield
        finally:
            _current.reset(token)
            self._in_flight -= 1
            self._release_waiters()

    def _release_waiters(self) -> None:
        while self._waiters and self._in_flight < int(self.limit):
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._in_flight += 1
                waiter.set_result(None)

    def observe(self, seconds: float) -> None:
        """One request came back after `seconds`."""
        settings = self.settings
        self.answered += 1
        self._samples += 1
        # The minimum is kept over two overlapping windows so that it can rise again.
        self._min_rtt = seconds if self._min_rtt is None else min(self._min_rtt, seconds)
        self._next_min_rtt = (
            seconds if self._next_min_rtt is None else min(self._next_min_rtt, seconds)
        )
        if self._samples % settings.window == 0:
            self._min_rtt, self._next_min_rtt = self._next_min_rtt, None
        self._smoothed = seconds if self._smoothed is None else 0.9 * self._smoothed + 0.1 * seconds
        self._since_adjust += 1
        if self._since_adjust < max(1, int(self.limit)):
            return  # adjust about once per round of the devices in flight
        self._since_adjust = 0
        assert self._min_rtt is not None
        if (
            self._smoothed > settings.queueing_factor * self._min_rtt
            and self._smoothed - self._min_rtt > settings.queueing_delay
        ):
            self._slow_start = False
            self._set_limit(self.limit * 0.9)
        elif self._slow_start:
            # Until the first sign of load the limit doubles each round, as in TCP's slow start:
            # growing by one from 8 to 64 took ~2000 requests, a tenth of a 1000-device run.
            self._set_limit(self.limit * 2)
        else:
            self._set_limit(self.limit + 1)

    def timed_out(self) -> None:
        """A request got no reply in time: halve the limit (a lost reply is the loudest signal)."""
        self.timeouts += 1
        self._since_adjust = 0
        self._slow_start = False
        self._set_limit(self.limit / 2)

    def _set_limit(self, value: float) -> None:
        self.limit = min(float(self.settings.ceiling), max(float(self.settings.floor), value))
        self._release_waiters()
