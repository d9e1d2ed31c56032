"""Reading devices whose firmware is broken: what can be read is kept, the rest is an error."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from kdfm_agent.commands.read import read_one
from kdfm_agent.credentials import Community
from kdfm_agent.model import SupplyState
from kdfm_agent.snmp import SessionSettings
from kdfm_agent.snmp.session import oid_tuple
from kdfm_agent.targets import SendGuard, Target
from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto import api

V2C = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
BEYOND = ("1.3.6.1.6.3.1.1.4.1.0", V2C.Integer(0))
"""A row after everything the mini agent holds: every walk ends when it sees it."""


def mini_agent(rows: Mapping[str, object], *, walks: bool = True):
    """A tiny, correct SNMP agent over `rows`; `walks=False` ignores GETNEXT/GETBULK."""
    ordered = sorted(rows, key=oid_tuple)

    def respond(request: bytes) -> bytes | None:
        message, _ = decoder.decode(request, asn1Spec=V2C.Message())
        pdu = V2C.apiMessage.get_pdu(message)
        asked = [str(o) for o, _ in V2C.apiPDU.get_varbinds(pdu)]
        if type(pdu).__name__ == "GetRequestPDU":
            var_binds = [(o, rows.get(o, V2C.NoSuchObject(""))) for o in asked]
        elif not walks:
            return None
        else:
            after = [o for o in ordered if oid_tuple(o) > oid_tuple(asked[0])][:10]
            var_binds = [(o, rows[o]) for o in after] or [BEYOND]
        response = V2C.apiMessage.get_response(message)
        V2C.apiPDU.set_varbinds(V2C.apiMessage.get_pdu(response), var_binds)
        return bytes(encoder.encode(response))

    return respond


SYSTEM = {
    "1.3.6.1.2.1.1.1.0": V2C.OctetString(b"Inventive Printer 1.0\x00\x00"),
    "1.3.6.1.2.1.1.2.0": V2C.ObjectIdentifier("1.3.6.1.4.1.99999.1"),
}


def read(device) -> object:
    target = Target("127.0.0.1", device.port, "127.0.0.1")
    settings = SessionSettings(timeout=0.5, retries=1)
    return asyncio.run(
        read_one(target, [Community("public")], settings, SendGuard.for_targets([target]))
    )


def test_wrong_types_and_negative_counters_become_errors_not_numbers(hostile_device):
    supplies = "1.3.6.1.2.1.43.11.1.1"
    rows = {
        **SYSTEM,
        f"{supplies}.6.1.1": V2C.OctetString(b"Black Toner"),
        f"{supplies}.8.1.1": V2C.Integer(2**31 - 1),
        f"{supplies}.9.1.1": V2C.OctetString(b"lots"),  # a level as text: firmware bug
        f"{supplies}.6.1.2": V2C.OctetString(b"Cyan Toner"),
        f"{supplies}.8.1.2": V2C.Integer(2**31 - 1),
        f"{supplies}.9.1.2": V2C.Integer(2**31 - 1),
        "1.3.6.1.2.1.43.10.2.1.4.1.1": V2C.Integer(-5),  # a negative life count
    }
    reading = read(hostile_device(mini_agent(rows)))
    assert reading.identity.sys_descr == "Inventive Printer 1.0"
    black, cyan = reading.supplies
    assert (black.state, black.raw_level, black.percent) == (SupplyState.NOT_REPORTED, None, None)
    assert (cyan.state, cyan.percent) == (SupplyState.OK, 100.0)
    assert reading.counters == ()
    assert [(e.code, e.oid) for e in reading.errors] == [
        ("bad_value", "1.3.6.1.2.1.43.10.2.1.4.1.1")
    ]


def test_device_that_answers_get_but_not_walks_keeps_its_identity(hostile_device):
    device = hostile_device(mini_agent(SYSTEM, walks=False))
    reading = read(device)
    assert reading.identity.sys_object_id == "1.3.6.1.4.1.99999.1"
    assert [e.code for e in reading.errors] == ["timeout"]
    # One GET, then one walk tried twice; the device is then left alone, not hammered.
    assert device.received == 3
