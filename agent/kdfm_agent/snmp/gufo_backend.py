"""The gufo-snmp 0.13 back end: fast and asyncio-native, but without retries or v3 context names.

gufo raises a bare `TimeoutError` (also for ICMP port-unreachable), `NoSuchInstance`,
`SnmpDecodeError` for bad BER and `SnmpAuthError` for USM failures; they are mapped to the agent's
error tree here and nowhere else.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar, cast

from gufo.snmp import (
    Aes128Key,
    Aes192Key,
    Aes256Key,
    DesKey,
    Md5Key,
    NoSuchInstance,
    Sha1Key,
    Sha224Key,
    Sha256Key,
    Sha384Key,
    Sha512Key,
    SnmpAuthError,
    SnmpDecodeError,
    SnmpEncodeError,
    SnmpError,
    SnmpVersion,
    User,
)
from gufo.snmp._fast import GetIter
from gufo.snmp.aio.client import SnmpSession as GufoClient

from kdfm_agent import errors
from kdfm_agent.credentials import AuthProtocol, Community, PrivProtocol, UsmUser
from kdfm_agent.credentials import SnmpVersion as Version
from kdfm_agent.snmp.session import SnmpSession, SnmpValue

_T = TypeVar("_T")

_AUTH_KEYS: dict[AuthProtocol, Any] = {
    AuthProtocol.MD5: Md5Key,
    AuthProtocol.SHA: Sha1Key,
    AuthProtocol.SHA224: Sha224Key,
    AuthProtocol.SHA256: Sha256Key,
    AuthProtocol.SHA384: Sha384Key,
    AuthProtocol.SHA512: Sha512Key,
}
_PRIV_KEYS: dict[PrivProtocol, Any] = {
    PrivProtocol.DES: DesKey,
    PrivProtocol.AES128: Aes128Key,
    PrivProtocol.AES192: Aes192Key,
    PrivProtocol.AES256: Aes256Key,
}


def _user(credential: UsmUser) -> User:
    auth = priv = None
    if credential.auth_protocol is not None and credential.auth_key is not None:
        auth = _AUTH_KEYS[credential.auth_protocol](credential.auth_key.encode())
    if credential.priv_protocol is not None and credential.priv_key is not None:
        priv = _PRIV_KEYS[credential.priv_protocol](credential.priv_key.encode())
    return User(credential.user, auth_key=auth, priv_key=priv)


class GufoSession(SnmpSession):
    """`SnmpSession` on gufo-snmp."""

    _client: GufoClient | None = None

    def _new_client(self) -> GufoClient:
        credential = self.credential
        common: dict[str, Any] = {
            "addr": self.address,
            "port": self.target.port,
            "timeout": self.settings.timeout,
            "max_repetitions": self.settings.max_repetitions,
        }
        if isinstance(credential, Community):
            version = SnmpVersion.v1 if credential.version is Version.V1 else SnmpVersion.v2c
            return GufoClient(community=credential.community, version=version, **common)
        if credential.context:
            raise errors.ConfigError("gufo-snmp cannot read an SNMPv3 context; use pysnmp")
        return GufoClient(user=_user(credential), version=SnmpVersion.v3, **common)

    _encrypted_reply_seen = False
    _pending: tuple[asyncio.Future[Any], Callable[[], Any]] | None = None
    """The request in flight, if any: the wait for its reply, and how to read that reply."""
    _reading = False
    """Whether `_on_readable` is registered as the socket's reader."""

    async def _open(self) -> None:
        self._client = self._new_client()
        if isinstance(self.credential, UsmUser):
            # v3 engine discovery is a request like any other: retried, and its failures typed.
            # Only v3: for a community gufo sends nothing, and a "round trip" of microseconds
            # reported to the pacing limiter set its minimum so low that every real reply
            # looked queued (the limit never left its initial 8).
            await self._retrying(self._refresh)

    def _timeout_error(self) -> errors.SnmpError:
        credential = self.credential
        if (
            isinstance(credential, UsmUser)
            and credential.priv_protocol is not None
            and not self._encrypted_reply_seen
        ):
            # The engine answered discovery and the authenticated time sync, so the device is
            # there and the auth key is right; an agent that cannot decrypt a request drops it
            # in silence (RFC 3414 3.2 step 8 leaves the report optional). Say so, not "timeout".
            return errors.SnmpAuthError(
                self.target.label,
                "SNMPv3 authentication failed: the agent answers engine discovery and the "
                "authenticated time sync but no encrypted request: wrong privacy key or protocol",
            )
        return super()._timeout_error()

    async def _refresh(self) -> None:
        self._release_reader()  # gufo's refresh registers its own reader on the socket
        with self._mapped():
            await self._live.refresh()

    async def _close(self) -> None:
        self._release_reader()
        # gufo closes its socket when the client is garbage-collected; drop our reference.
        self._client = None

    @property
    def _live(self) -> GufoClient:
        if self._client is None:
            raise errors.ConfigError("the SNMP session is used outside its `async with` block")
        return self._client

    async def _keep_v3_fresh(self) -> None:
        idle = time.monotonic() - self._last_request
        if isinstance(self.credential, UsmUser) and idle > self.settings.v3_refresh_after:
            # gufo's v3 engine time goes stale after 150 s idle and the agent then drops requests.
            self._last_request = time.monotonic()
            await self._retrying(self._refresh)

    async def _get_many_once(self, oids: list[str]) -> dict[str, SnmpValue]:
        sock = self._live._sock
        with self._mapped():
            if len(oids) == 1:
                try:
                    value = await self._exchange(lambda: sock.send_get(oids[0]), sock.recv_get)
                except NoSuchInstance:
                    self._encrypted_reply_seen = True
                    return {}
                self._encrypted_reply_seen = True
                return {oids[0]: value}
            values = dict(
                await self._exchange(lambda: sock.send_get_many(oids), sock.recv_get_many)
            )
            self._encrypted_reply_seen = True
            return values

    async def _exchange(self, send: Callable[[], None], receive: Callable[[], _T]) -> _T:
        """One request and its reply on gufo's socket (gufo's `_send`/`_recv`, made cheaper).

        gufo registers a reader and wraps the wait in `asyncio.wait_for` for every request; here
        the reader stays registered from one request to the next, reads the reply itself (so a
        stale readiness event costs a failed read, not a wake-up of the session) and the
        timeout is a timer handle: together a sixth of the agent's CPU on a 1000-device run.
        """
        client = self._live
        await client._send(send)  # gufo's: sends at once unless the socket buffer is full
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[_T] = loop.create_future()
        self._pending = (waiter, receive)
        if not self._reading:
            loop.add_reader(client._fd, self._on_readable)
            self._reading = True
        timer = loop.call_later(self.settings.timeout, _expire, waiter)
        try:
            return await waiter
        finally:
            timer.cancel()
            self._pending = None

    def _on_readable(self) -> None:
        pending = self._pending
        if pending is None:
            # A datagram nobody waits for (a late duplicate): stop watching until the next
            # request, or the level-triggered selector calls this at every turn of the loop.
            self._release_reader()
            return
        waiter, receive = pending
        if waiter.done():
            return
        try:
            value = receive()
        except BlockingIOError:
            return  # nothing to read after all, or gufo saw a reply to another request
        except Exception as exc:
            waiter.set_exception(exc)  # raised in the session, where `_mapped` types it
            return
        waiter.set_result(value)

    def _release_reader(self) -> None:
        """Unregister the socket's reader (before gufo's own methods register theirs)."""
        if self._reading and self._client is not None:
            asyncio.get_running_loop().remove_reader(self._client._fd)
        self._reading = False

    async def _walk_pages(
        self, oid: str, bulk: bool, repetitions: int
    ) -> AsyncIterator[list[tuple[str, SnmpValue]]]:
        client = self._live
        v1 = isinstance(self.credential, Community) and self.credential.version is Version.V1
        if not bulk or v1:
            rows = client.getnext(oid)
            while True:
                try:
                    # A timed-out request left the iterator's position unchanged: calling again
                    # resends it.
                    row = await self._retrying(lambda: self._next_row(rows))
                except StopAsyncIteration:
                    return
                yield [row]
        # One retried request per page, not per row: gufo's own GETBULK iterator hides which
        # rows cost a round trip, so its request/receive halves are driven here (gufo 0.13).
        position = GetIter(oid, repetitions)
        while True:
            try:
                page = await self._retrying(lambda: self._bulk_page(client, position))
            except StopAsyncIteration:
                return  # gufo: the reply held nothing but endOfMibView
            # gufo marks the end of the MIB view with None; list.index finds it at C speed.
            try:
                end = page.index(None)
            except ValueError:
                end = len(page)
            rows_in_page = cast("list[tuple[str, SnmpValue]]", page[:end])
            if rows_in_page:
                yield rows_in_page
            if end < len(page) or not page:
                return

    async def _bulk_page(
        self, client: GufoClient, position: GetIter
    ) -> list[tuple[str, SnmpValue] | None]:
        sock = client._sock
        with self._mapped():
            page: list[tuple[str, SnmpValue] | None] = await self._exchange(
                lambda: sock.send_get_bulk(position), lambda: sock.recv_get_bulk(position)
            )
        self._encrypted_reply_seen = True
        return page

    async def _next_row(self, rows: AsyncIterator[tuple[str, SnmpValue]]) -> tuple[str, SnmpValue]:
        self._release_reader()  # gufo's iterator registers its own reader on the socket
        with self._mapped():
            row = await rows.__anext__()
        self._encrypted_reply_seen = True
        return row

    def _mapped(self) -> _ErrorMapper:
        return _ErrorMapper(self.target.label)


def _expire(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class _ErrorMapper:
    """Translate gufo exceptions into the agent's tree; TimeoutError passes for the retry loop."""

    def __init__(self, label: str) -> None:
        self._label = label

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        if exc is None or isinstance(exc, TimeoutError | StopAsyncIteration | NoSuchInstance):
            return
        if isinstance(exc, SnmpAuthError):
            raise errors.SnmpAuthError(self._label, f"SNMPv3 authentication failed: {exc}") from exc
        if isinstance(exc, SnmpDecodeError | SnmpEncodeError):
            raise errors.SnmpMalformedReplyError(
                self._label, f"the reply is not valid SNMP: {exc or type(exc).__name__}"
            ) from exc
        if isinstance(exc, SnmpError):
            raise errors.SnmpError(self._label, f"SNMP request failed: {exc}") from exc
