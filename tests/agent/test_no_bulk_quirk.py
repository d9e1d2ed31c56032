"""The `no_bulk` quirk: a profile naming firmware with broken GETBULK makes the walks GETNEXT."""

from __future__ import annotations

import asyncio

from kdfm_agent.collect import collect
from kdfm_agent.credentials import Community
from kdfm_agent.profile import load_documents, resolve
from kdfm_agent.snmp import SessionSettings, open_session
from kdfm_agent.snmp.session import oid_tuple
from kdfm_agent.targets import Target
from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto import api

V2C = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
SUPPLIES = "1.3.6.1.2.1.43.11.1.1"
ROWS = {
    "1.3.6.1.2.1.1.1.0": V2C.OctetString(b"Bulkless Printer 2.0"),
    "1.3.6.1.2.1.1.2.0": V2C.ObjectIdentifier("1.3.6.1.4.1.99998.7"),
    f"{SUPPLIES}.4.1.1": V2C.Integer(3),
    f"{SUPPLIES}.5.1.1": V2C.Integer(3),
    f"{SUPPLIES}.6.1.1": V2C.OctetString(b"Black Toner"),
    f"{SUPPLIES}.8.1.1": V2C.Integer(1000),
    f"{SUPPLIES}.9.1.1": V2C.Integer(250),
}
PROFILES = {
    "generic": "name: generic\n",
    "bulkless": (
        "name: bulkless\nextends: [generic]\nvendor: Bulkless\n"
        "match:\n  sys_object_id: ['1.3.6.1.4.1.99998']\n"
        "quirks:\n  # Firmware 2.0 answers every GETBULK with its first row again.\n"
        "  no_bulk: true\n"
    ),
}


def bulk_breaking_agent(counts: dict[str, int]):
    """GET and GETNEXT are right; GETBULK answers with sysDescr, an OID before the request."""
    ordered = sorted(ROWS, key=oid_tuple)

    def respond(request: bytes) -> bytes:
        message, _ = decoder.decode(request, asn1Spec=V2C.Message())
        pdu = V2C.apiMessage.get_pdu(message)
        kind = type(pdu).__name__
        counts[kind] = counts.get(kind, 0) + 1
        asked = [str(o) for o, _ in V2C.apiPDU.get_varbinds(pdu)]
        if kind == "GetRequestPDU":
            var_binds = [(o, ROWS.get(o, V2C.NoSuchObject(""))) for o in asked]
        elif kind == "GetBulkRequestPDU":
            var_binds = [("1.3.6.1.2.1.1.1.0", ROWS["1.3.6.1.2.1.1.1.0"])]
        else:
            after = [o for o in ordered if oid_tuple(o) > oid_tuple(asked[0])][:1]
            var_binds = [(o, ROWS[o]) for o in after] or [("1.3.6.1.6.3.1.1.4.1.0",
                                                          V2C.Integer(0))]  # fmt: skip
        response = V2C.apiMessage.get_response(message)
        V2C.apiPDU.set_varbinds(V2C.apiMessage.get_pdu(response), var_binds)
        return bytes(encoder.encode(response))

    return respond


def _read(device, profiles):
    async def main():
        target = Target("127.0.0.1", device.port, "127.0.0.1")
        async with open_session(target, Community(), SessionSettings(timeout=1, retries=0)) as s:
            return await collect(s, profiles=profiles)

    return asyncio.run(main())


def test_no_bulk_profile_walks_with_getnext_and_reads_the_supplies(hostile_device):
    counts: dict[str, int] = {}
    device = hostile_device(bulk_breaking_agent(counts))
    reading = _read(device, resolve(load_documents(PROFILES)))
    assert reading.profile == "bulkless"
    assert counts.get("GetBulkRequestPDU", 0) == 0
    assert counts["GetNextRequestPDU"] >= len(ROWS) - 2
    (supply,) = reading.supplies
    assert (supply.description, supply.percent) == ("Black Toner", 25.0)
    assert reading.errors == ()


def test_without_the_quirk_the_same_firmware_loses_the_supplies(hostile_device):
    counts: dict[str, int] = {}
    device = hostile_device(bulk_breaking_agent(counts))
    without = PROFILES["bulkless"].replace("no_bulk: true", "no_bulk: false")
    plain = {**PROFILES, "bulkless": without}
    reading = _read(device, resolve(load_documents(plain)))
    assert counts["GetBulkRequestPDU"] > 0
    # The reply jumps out of the subtree, which reads as "the table is empty": silently nothing.
    assert reading.supplies == ()
