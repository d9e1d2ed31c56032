"""The session interface every back end implements, and what they share: retries, walk checks.

Values come back untyped the way gufo-snmp gives them: OCTET STRING as `bytes`, OBJECT IDENTIFIER
as a dotted `str`, every integer type as `int`. Typing them is the profile's job, not the session's.
"""

from __future__ import annotations

import abc
import enum
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import NoReturn, Self, TypeVar

from kdfm_agent.credentials import Credential
from kdfm_agent.errors import (
    ConfigError,
    SnmpError,
    SnmpTimeoutError,
    SnmpWalkLimitError,
    SnmpWalkLoopError,
)
from kdfm_agent.snmp.pacing import observe_request
from kdfm_agent.targets import SendGuard, Target

SnmpValue = bytes | str | int | float | None
_T = TypeVar("_T")


class Backend(enum.Enum):
    """Which SNMP library carries the packets."""

    GUFO = "gufo"
    PYSNMP = "pysnmp"


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """How patiently and how much one session asks a device."""

    timeout: float = 5.0
    """Seconds to wait for one reply before sending the request again."""
    retries: int = 2
    """How many times a request is sent again after a timeout (0 = send once)."""
    max_repetitions: int = 20
    """Rows asked per GETBULK request."""
    max_rows: int = 10000
    """A walk stops with `SnmpWalkLimitError` after this many rows (a runaway table)."""
    backend: Backend = Backend.GUFO
    """The SNMP library to use; pysnmp is chosen anyway when an SNMPv3 context is needed."""
    v3_refresh_after: float = 120.0
    """Seconds idle after which an SNMPv3 session re-synchronises engine time (gufo: 150 s)."""

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise ConfigError(f"SNMP timeout must be positive, got {self.timeout}")
        if self.retries < 0:
            raise ConfigError(f"SNMP retries must be 0 or more, got {self.retries}")
        if not 1 <= self.max_repetitions <= 1000:
            raise ConfigError(f"max_repetitions must be in 1..1000, got {self.max_repetitions}")
        if self.max_rows < 1:
            raise ConfigError(f"max_rows must be at least 1, got {self.max_rows}")


def oid_tuple(oid: str) -> tuple[int, ...]:
    """`"1.3.6.1"` (or `".1.3.6.1"`) as a tuple of ints, for ordering and prefix tests."""
    return tuple(int(part) for part in oid.strip(".").split("."))


class SnmpSession(abc.ABC):
    """`async with` a session, then `get`, `get_many` and `walk` one device."""

    def __init__(
        self,
        target: Target,
        credential: Credential,
        settings: SessionSettings,
        *,
        guard: SendGuard | None = None,
    ) -> None:
        if target.address is None:
            raise ConfigError(f"target {target.host!r} must be resolved before opening a session")
        self.target = target
        self.credential = credential
        self.settings = settings
        self._guard = guard
        self._last_request = time.monotonic()
        self._answered = False

    @property
    def address(self) -> str:
        """The IP address packets go to."""
        assert self.target.address is not None  # checked in __init__
        return self.target.address

    async def __aenter__(self) -> Self:
        if self._guard is not None:
            # Before any socket exists: a refused address never sees a packet.
            self._guard.check(self.address)
        await self._open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._close()

    @abc.abstractmethod
    async def _open(self) -> None:
        """Create the transport (and, for v3, discover the engine)."""

    @abc.abstractmethod
    async def _close(self) -> None:
        """Release the transport."""

    @abc.abstractmethod
    async def _get_many_once(self, oids: list[str]) -> dict[str, SnmpValue]:
        """One GET request; objects the device lacks are left out."""

    @abc.abstractmethod
    def _walk_pages(
        self, oid: str, bulk: bool, repetitions: int
    ) -> AsyncIterator[list[tuple[str, SnmpValue]]]:
        """Rows from `oid` on, one list per reply in the device's order, each request retried.

        GETBULK asks `repetitions` rows a request; `bulk=False` walks with GETNEXT (one row a
        request) even where GETBULK exists.
        """

    async def get(self, oid: str) -> SnmpValue:
        """The value of one object, or None when the device does not have it."""
        return (await self.get_many([oid])).get(oid.strip("."))

    async def get_many(self, oids: Iterable[str], chunk: int = 16) -> dict[str, SnmpValue]:
        """Values of several objects (asked `chunk` per request); missing objects are left out."""
        wanted = [oid.strip(".") for oid in oids]
        result: dict[str, SnmpValue] = {}
        for start in range(0, len(wanted), chunk):
            part = wanted[start : start + chunk]
            result.update(await self._retrying(functools.partial(self._get_many_once, part)))
        return result

    async def walk(
        self,
        oid: str,
        max_rows: int | None = None,
        *,
        bulk: bool = True,
        repetitions: int | None = None,
    ) -> list[tuple[str, SnmpValue]]:
        """Every row under `oid`, in order; refuses to loop and to exceed `max_rows`.

        `bulk=False` is for firmware that answers GETBULK wrongly (a profile's `no_bulk` quirk);
        `repetitions` overrides `settings.max_repetitions` for a subtree known to be large.
        """
        root = oid.strip(".")
        prefix = root + "."
        limit = max_rows if max_rows is not None else self.settings.max_rows
        page_rows = repetitions if repetitions is not None else self.settings.max_repetitions
        if not 1 <= page_rows <= 1000:
            raise ConfigError(f"GETBULK repetitions must be in 1..1000, got {page_rows}")
        rows: list[tuple[str, SnmpValue]] = []
        previous = oid_tuple(root)
        async for page in self._walk_pages(root, bulk, page_rows):
            finished = False
            if page and page[0][0].startswith(prefix) and page[-1][0].startswith(prefix):
                # Every page but the last: its ends are in the subtree and (checked below) in
                # order, so an in-order page lies wholly in it. Rows out of order inside a page
                # pass the per-page order check anyway; testing each row cost 5% of a reading.
                accepted = page
            else:
                accepted = []
                for raw_oid, value in page:
                    row_oid = raw_oid[1:] if raw_oid[:1] == "." else raw_oid
                    if not row_oid.startswith(prefix):
                        finished = True
                        break
                    accepted.append((row_oid, value))
            if accepted:
                # Each page must start after the previous one and end after its own start: that
                # is what makes the walk finish. Checking every row (hundreds per device) as a
                # tuple of ints would cost a fifth of a reading's CPU for no more safety.
                first = tuple(map(int, accepted[0][0].split(".")))
                last = tuple(map(int, accepted[-1][0].split("."))) if len(accepted) > 1 else first
                if first <= previous:
                    self._loop(root, previous, accepted[0][0])
                if len(accepted) > 1 and last <= first:
                    self._loop(root, first, accepted[-1][0])
                if len(rows) + len(accepted) > limit:
                    raise SnmpWalkLimitError(
                        self.target.label,
                        f"walk of {root} returned more than {limit} rows",
                        oid=root,
                    )
                rows.extend(accepted)
                previous = last
            if finished:
                break
        return rows

    def _loop(self, root: str, before: tuple[int, ...], row_oid: str) -> NoReturn:
        raise SnmpWalkLoopError(
            self.target.label,
            f"walk of {root} went from {'.'.join(map(str, before))} back to {row_oid}",
            oid=row_oid,
        )

    async def _retrying(self, request: Callable[[], Awaitable[_T]]) -> _T:
        """Send `request` again after each timeout, `settings.retries` times; then give up."""
        await self._keep_v3_fresh()
        for attempt in range(self.settings.retries + 1):
            sent = time.monotonic()
            try:
                result = await request()
            except TimeoutError:
                if self._answered:
                    # A device that answered before and now does not is overloaded (or its path
                    # is); a device silent from the start is just absent and says nothing of load.
                    observe_request(None)
                if attempt == self.settings.retries:
                    break
                continue
            self._last_request = time.monotonic()
            self._answered = True
            observe_request(self._last_request - sent)
            return result
        raise self._timeout_error()

    def _timeout_error(self) -> SnmpError:
        """The error for a request that got no reply after every retry."""
        return SnmpTimeoutError(
            self.target.label,
            f"no reply within {self.settings.timeout:g} s after {self.settings.retries + 1} tries",
        )

    async def _keep_v3_fresh(self) -> None:  # noqa: B027 - an optional hook, not abstract
        """Hook for back ends whose v3 engine time goes stale when idle."""
