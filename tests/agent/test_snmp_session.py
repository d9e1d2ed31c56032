"""The session interface on both back ends, against snmpsim and against broken devices."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import pytest
from kdfm_agent import errors
from kdfm_agent.credentials import AuthProtocol, Community, PrivProtocol, UsmUser
from kdfm_agent.snmp import Backend, SessionSettings, open_session
from kdfm_agent.targets import SendGuard, Target
from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto import api

BACKENDS = [Backend.GUFO, Backend.PYSNMP]
SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
SUPPLIES = "1.3.6.1.2.1.43.11.1.1"
V2C = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]


def site_target(site) -> Target:
    return Target(site.host, site.port, site.host)


def run(coro):
    return asyncio.run(coro)


# --- against snmpsim -------------------------------------------------------------------------


@pytest.mark.snmp
@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b.value)
def test_get_get_many_and_walk(snmp_site, backend):
    async def main():
        settings = SessionSettings(timeout=5, backend=backend)
        async with open_session(
            site_target(snmp_site), Community("hp_color-laserjet-m452nw"), settings
        ) as session:
            one = await session.get(SYS_OBJECT_ID)
            missing = await session.get("1.3.6.1.2.1.1.99.0")
            many = await session.get_many(
                [SYS_OBJECT_ID, "1.3.6.1.2.1.1.99.0", "1.3.6.1.2.1.1.3.0"]
            )
            rows = await session.walk(SUPPLIES)
            return one, missing, many, rows

    one, missing, many, rows = run(main())
    assert one == "1.3.6.1.4.1.11.2.3.9.1"
    assert missing is None
    assert many == {SYS_OBJECT_ID: "1.3.6.1.4.1.11.2.3.9.1", "1.3.6.1.2.1.1.3.0": 185448527}
    assert rows[0] == ("1.3.6.1.2.1.43.11.1.1.6.1.1", b"Black Cartridge HP CF410A")
    assert len(rows) == 12
    assert all(oid.startswith(SUPPLIES + ".") for oid, _ in rows)


@pytest.mark.snmp
@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b.value)
def test_walk_row_limit_is_an_error(snmp_site, backend):
    async def main():
        settings = SessionSettings(timeout=5, backend=backend, max_repetitions=5)
        async with open_session(site_target(snmp_site), Community("sharp_mx-3570n"), settings) as s:
            await s.walk("1.3.6.1.2.1", max_rows=50)

    with pytest.raises(errors.SnmpWalkLimitError, match="more than 50 rows"):
        run(main())


@pytest.mark.snmp
@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b.value)
def test_whole_walk_of_the_largest_recording(snmp_site, backend):
    async def main():
        settings = SessionSettings(timeout=5, backend=backend, max_repetitions=10)
        async with open_session(
            site_target(snmp_site), Community("samsung_ml-2850"), settings
        ) as s:
            return await s.walk("1.3.6.1.2.1.43")

    rows = run(main())
    assert len(rows) == 303  # SOURCES.md: 303 Printer-MIB OIDs in this recording


@pytest.mark.snmp
def test_v3_with_context_reads_through_pysnmp(snmp_site):
    user = snmp_site.user("kdfm-sha256-aes")
    credential = UsmUser(
        user.name,
        AuthProtocol.SHA256,
        user.auth_key,
        PrivProtocol.AES128,
        user.priv_key,
        context=snmp_site.v3_context("xerox_altalink-c8045"),
    )

    async def main():
        async with open_session(
            site_target(snmp_site), credential, SessionSettings(timeout=5)
        ) as s:
            return await s.get(SYS_OBJECT_ID), len(await s.walk(SUPPLIES))

    assert run(main()) == ("1.3.6.1.4.1.253.8.62.1.35.2.3.1.1", 36)  # 3 columns x 12 supplies


@pytest.mark.snmp
def test_v3_wrong_key_is_an_auth_error(snmp_site):
    user = snmp_site.user("kdfm-sha256-aes")
    credential = UsmUser(
        user.name,
        AuthProtocol.SHA256,
        "not-the-key",
        PrivProtocol.AES128,
        user.priv_key,
        context=snmp_site.v3_context("xerox_altalink-c8045"),
    )

    async def main():
        async with open_session(
            site_target(snmp_site), credential, SessionSettings(timeout=3, retries=0)
        ) as s:
            await s.get(SYS_OBJECT_ID)

    with pytest.raises(errors.SnmpAuthError, match="authentication failed"):
        run(main())


# --- the send guard --------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b.value)
def test_guard_refuses_an_address_outside_the_targets_and_sends_nothing(backend):
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.setblocking(False)
    try:
        target = Target("127.0.0.1", listener.getsockname()[1], "127.0.0.1")
        guard = SendGuard(["127.0.0.9"])

        async def main():
            settings = SessionSettings(timeout=0.5, retries=0, backend=backend)
            async with open_session(target, Community("public"), settings, guard=guard) as s:
                await s.get(SYS_OBJECT_ID)

        with pytest.raises(errors.TargetRefusedError, match="not among the configured targets"):
            run(main())
        with pytest.raises(BlockingIOError):
            listener.recvfrom(65535)  # not one datagram reached the address
    finally:
        listener.close()


def test_guard_allows_exactly_its_targets():
    guard = SendGuard.for_targets([Target("printer", 161, "10.0.0.5"), Target("::1", 161, "::1")])
    assert "10.0.0.5" in guard
    assert "0:0:0:0:0:0:0:1" in guard
    assert "10.0.0.6" not in guard
    guard.check("10.0.0.5")
    with pytest.raises(errors.TargetRefusedError):
        guard.check("10.0.0.6")


# --- hostile devices (a UDP test double for broken firmware) ---------------------------------


def reply(request: bytes, build: Callable[[list[str]], list[tuple[str, object]]]) -> bytes:
    """A well-formed v2c response to `request` with the var-binds `build(requested oids)`."""
    message, _ = decoder.decode(request, asn1Spec=V2C.Message())
    asked = [str(oid) for oid, _ in V2C.apiPDU.get_varbinds(V2C.apiMessage.get_pdu(message))]
    response = V2C.apiMessage.get_response(message)
    V2C.apiPDU.set_varbinds(V2C.apiMessage.get_pdu(response), build(asked))
    return bytes(encoder.encode(response))


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b.value)
def test_silent_device_times_out_after_every_retry(hostile_device, backend):
    device = hostile_device(lambda request: None)

    async def main():
        settings = SessionSettings(timeout=0.5, retries=2, backend=backend)
        target = Target("127.0.0.1", device.port, "127.0.0.1")
        async with open_session(target, Community("public"), settings) as s:
            await s.get(SYS_OBJECT_ID)

    with pytest.raises(errors.SnmpTimeoutError, match="after 3 tries"):
        run(main())
    assert device.received == 3


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b.value)
def test_garbage_reply_is_a_malformed_reply_error(hostile_device, backend):
    device = hostile_device(lambda request: b"\x30\x82\xff\xff\x02\x01")

    async def main():
        settings = SessionSettings(timeout=1, retries=0, backend=backend)
        target = Target("127.0.0.1", device.port, "127.0.0.1")
        async with open_session(target, Community("public"), settings) as s:
            await s.get(SYS_OBJECT_ID)

    # pysnmp drops undecodable datagrams and waits: for it, garbage looks like silence.
    expected = (
        errors.SnmpMalformedReplyError if backend is Backend.GUFO else errors.SnmpTimeoutError
    )
    with pytest.raises(expected):
        run(main())


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b.value)
def test_walk_that_goes_backwards_is_a_loop_error(hostile_device, backend):
    # Whatever is asked, the "device" answers with the same two rows: a classic agent loop.
    rows = [("1.3.6.1.2.1.43.11.1.1.9.1.2", V2C.Integer(5)),
            ("1.3.6.1.2.1.43.11.1.1.9.1.1", V2C.Integer(7))]  # fmt: skip
    device = hostile_device(lambda request: reply(request, lambda asked: rows))

    async def main():
        settings = SessionSettings(timeout=1, retries=0, backend=backend)
        target = Target("127.0.0.1", device.port, "127.0.0.1")
        async with open_session(target, Community("public"), settings) as s:
            await s.walk(SUPPLIES)

    with pytest.raises((errors.SnmpWalkLoopError, errors.SnmpMalformedReplyError)):
        run(main())


def endless_table(request: bytes) -> bytes:
    """Answers every GETNEXT/GETBULK with the next 10 rows of an endless supplies column."""

    def rows(asked: list[str]) -> list[tuple[str, object]]:
        last = asked[0].split(".")
        start = int(last[-1]) + 1 if asked[0].startswith(SUPPLIES + ".9.1.") else 1
        return [(f"{SUPPLIES}.9.1.{n}", V2C.Integer(n)) for n in range(start, start + 10)]

    return reply(request, rows)


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b.value)
def test_endless_table_stops_at_the_row_limit(hostile_device, backend):
    device = hostile_device(endless_table)

    async def main():
        settings = SessionSettings(timeout=2, retries=0, backend=backend, max_rows=10000)
        target = Target("127.0.0.1", device.port, "127.0.0.1")
        async with open_session(target, Community("public"), settings) as s:
            await s.walk(SUPPLIES)

    with pytest.raises(errors.SnmpWalkLimitError, match="more than 10000 rows"):
        run(main())


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b.value)
def test_device_that_stops_answering_mid_walk_times_out(hostile_device, backend):
    answered = 0

    def tired(request: bytes) -> bytes | None:
        nonlocal answered
        answered += 1
        return endless_table(request) if answered <= 3 else None

    device = hostile_device(tired)

    async def main():
        settings = SessionSettings(timeout=0.5, retries=1, backend=backend)
        target = Target("127.0.0.1", device.port, "127.0.0.1")
        async with open_session(target, Community("public"), settings) as s:
            await s.walk(SUPPLIES)

    with pytest.raises(errors.SnmpTimeoutError):
        run(main())
    assert device.received == 3 + 2  # three answered pages, then one request sent twice


def finite_table(request: bytes) -> bytes:
    """25 supply levels, 10 rows a reply, then sysObjectID-less air: the row after the table."""

    def rows(asked: list[str]) -> list[tuple[str, object]]:
        if asked == [SYS_OBJECT_ID]:
            return [(SYS_OBJECT_ID, V2C.ObjectIdentifier("1.3.6.1.4.1.11.2.3.9.1"))]
        last = asked[0].split(".")
        start = int(last[-1]) + 1 if asked[0].startswith(SUPPLIES + ".9.1.") else 1
        found = [(f"{SUPPLIES}.9.1.{n}", V2C.Integer(n)) for n in range(start, min(start + 10, 26))]
        return found or [("1.3.6.1.2.1.43.12.1.1.2.1.1", V2C.Integer(1))]

    return reply(request, rows)


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b.value)
def test_duplicate_replies_are_not_taken_for_the_next_ones(hostile_device, backend):
    # Every request is answered twice: the copy waits in the socket while the next request is
    # in flight (and, after the walk, while nothing is) and must be recognised as stale.
    device = hostile_device(lambda request: [finite_table(request)] * 2)

    async def main():
        settings = SessionSettings(timeout=2, retries=0, backend=backend, max_repetitions=10)
        target = Target("127.0.0.1", device.port, "127.0.0.1")
        async with open_session(target, Community("public"), settings) as s:
            rows = await s.walk(SUPPLIES)
            await asyncio.sleep(0.2)  # not synchronisation: lets the last copy arrive while idle
            return rows, await s.get(SYS_OBJECT_ID)

    rows, sys_object_id = run(main())
    assert rows == [(f"{SUPPLIES}.9.1.{n}", n) for n in range(1, 26)]
    assert sys_object_id == "1.3.6.1.4.1.11.2.3.9.1"
    assert device.received == 4 + 1  # three full pages, the one past the table, the GET
