"""`kdfm-agent scan`: ranges, exclusions, credential order, printer or not."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys

import pytest
from kdfm_agent.credentials import Community, SnmpVersion
from kdfm_agent.discovery import expand, scan
from kdfm_agent.snmp import SessionSettings
from kdfm_agent.targets import Target
from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto import api

V2C = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]


@pytest.mark.snmp
def test_scan_range_with_exclusion_and_ordered_credentials(snmp_site):
    # 127.0.0.3 is excluded: a listener there proves not one datagram was sent to it.
    excluded = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    excluded.bind(("127.0.0.3", snmp_site.port))
    excluded.setblocking(False)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "kdfm_agent.cli", "scan", "127.0.0.1-127.0.0.3",
             "--exclude", "127.0.0.3/32", "--port", str(snmp_site.port), "--json",
             "--community", "not-a-community", "--community", "canon_imageprograf-tm-5300",
             "--timeout", "0.5", "--retries", "1"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""  # progress only on a terminal
        found = {r["address"]: r for r in map(json.loads, result.stdout.splitlines())}
        assert set(found) == {"127.0.0.1", "127.0.0.2"}
        printer = found["127.0.0.1"]
        assert printer["printer"] is True
        assert printer["reason"] == "printer_mib"
        assert printer["profile"] == "canon"
        assert printer["credential"] == Community("canon_imageprograf-tm-5300").label
        assert found["127.0.0.2"]["answered"] is False
        with pytest.raises(BlockingIOError):
            excluded.recvfrom(65535)
    finally:
        excluded.close()


def test_hostnames_are_resolved_and_reported():
    targets = asyncio.run(expand(["localhost"], [], 1161))
    assert targets == [Target("localhost", 1161, "127.0.0.1")]
    assert asyncio.run(expand(["localhost", "127.0.0.0/30"], ["localhost"], 161)) == [
        Target("127.0.0.2", 161, "127.0.0.2")
    ]


def test_device_without_printer_mibs_is_not_a_printer(hostile_device):
    def router(request: bytes) -> bytes:
        message, _ = decoder.decode(request, asn1Spec=V2C.Message())
        asked = [str(o) for o, _ in V2C.apiPDU.get_varbinds(V2C.apiMessage.get_pdu(message))]
        if "1.3.6.1.2.1.1.2.0" in asked:
            var_binds = [("1.3.6.1.2.1.1.2.0", V2C.ObjectIdentifier("1.3.6.1.4.1.9.1.1")),
                         ("1.3.6.1.2.1.1.1.0", V2C.OctetString(b"Cisco IOS"))]  # fmt: skip
        else:
            # Any walk runs straight past the printer MIBs: the router has none.
            var_binds = [("1.3.6.1.6.3.1.1.4.1.0", V2C.Integer(0))]
        response = V2C.apiMessage.get_response(message)
        V2C.apiPDU.set_varbinds(V2C.apiMessage.get_pdu(response), var_binds)
        return bytes(encoder.encode(response))

    device = hostile_device(router)
    target = Target("127.0.0.1", device.port, "127.0.0.1")
    progress: list[tuple[int, int]] = []
    (result,) = asyncio.run(
        scan([target], [Community("public")], SessionSettings(timeout=2, retries=1),
             progress=lambda done, total: progress.append((done, total)))
    )  # fmt: skip
    assert (result.answered, result.printer, result.reason) == (True, False, "not_a_printer")
    assert result.sys_descr == "Cisco IOS"
    assert progress == [(1, 1)]


def _sweep_answerer(module, rows_after: dict[str, tuple[str, object]], *, fail_getnext=False):
    """A device answering GET and GETNEXT from `rows_after` (asked OID -> (next OID, value))."""

    def respond(request: bytes) -> bytes:
        message, _ = decoder.decode(request, asn1Spec=module.Message())
        pdu = module.apiMessage.get_pdu(message)
        asked = [str(o) for o, _ in module.apiPDU.get_varbinds(pdu)]
        response = module.apiMessage.get_response(message)
        reply_pdu = module.apiMessage.get_pdu(response)
        if fail_getnext and len(asked) > 1 and pdu.isSameTypeWith(module.GetNextRequestPDU()):
            # SNMPv1: one name past the end of the view fails the whole GETNEXT (noSuchName).
            module.apiPDU.set_error_status(reply_pdu, 2)
            module.apiPDU.set_error_index(reply_pdu, len(asked))
            module.apiPDU.set_varbinds(reply_pdu, [(o, module.Null("")) for o in asked])
        else:
            module.apiPDU.set_varbinds(reply_pdu, [rows_after[o] for o in asked])
        return bytes(encoder.encode(response))

    return respond


HP_SYSTEM = {
    "1.3.6.1.2.1.1.1": ("1.3.6.1.2.1.1.1.0", V2C.OctetString(b"HP ETHERNET MULTI-ENVIRONMENT")),
    "1.3.6.1.2.1.1.2": ("1.3.6.1.2.1.1.2.0", V2C.ObjectIdentifier("1.3.6.1.4.1.11.2.3.9.1")),
}


@pytest.mark.parametrize(
    ("after_printer_mib", "after_hr_printer", "reason"),
    [
        (("1.3.6.1.2.1.43.5.1.1.1.1", V2C.Integer(1)),
         ("1.3.6.1.2.1.25.3.5.1.1.1", V2C.Integer(3)), "printer_mib"),
        # No Printer-MIB: GETNEXT runs past it; hrPrinterTable alone still tells a printer.
        (("1.3.6.1.2.1.55.1.1.0", V2C.Integer(2)),
         ("1.3.6.1.2.1.25.3.5.1.1.1", V2C.Integer(3)), "hr_printer"),
    ],
)  # fmt: skip
def test_the_sweep_reply_alone_identifies_a_printer(
    hostile_device, after_printer_mib, after_hr_printer, reason
):
    device = hostile_device(_sweep_answerer(V2C, {
        **HP_SYSTEM,
        "1.3.6.1.2.1.43": after_printer_mib,
        "1.3.6.1.2.1.25.3.5": after_hr_printer,
    }))  # fmt: skip
    target = Target("127.0.0.1", device.port, "127.0.0.1")
    (result,) = asyncio.run(
        scan([target], [Community("public")], SessionSettings(timeout=2, retries=1))
    )
    assert (result.answered, result.printer, result.reason) == (True, True, reason)
    assert result.sys_object_id == "1.3.6.1.4.1.11.2.3.9.1"
    assert result.sys_descr == "HP ETHERNET MULTI-ENVIRONMENT"
    assert result.profile == "hp"
    assert device.received == 1  # one probe, one reply: no session, no second round trip


def test_a_v1_error_reply_to_the_sweep_is_checked_by_session(hostile_device):
    v1 = api.PROTOCOL_MODULES[api.SNMP_VERSION_1]
    rows = {
        "1.3.6.1.2.1.1.1.0": ("1.3.6.1.2.1.1.1.0", v1.OctetString(b"Old printer")),
        "1.3.6.1.2.1.1.2.0": ("1.3.6.1.2.1.1.2.0", v1.ObjectIdentifier("1.3.6.1.4.1.2435.2")),
        "1.3.6.1.2.1.43": ("1.3.6.1.2.1.43.5.1.1.1.1", v1.Integer(1)),
        "1.3.6.1.2.1.43.5.1.1.1.1": ("1.3.6.1.2.1.55.1.1.0", v1.Integer(2)),
    }
    device = hostile_device(_sweep_answerer(v1, rows, fail_getnext=True))
    target = Target("127.0.0.1", device.port, "127.0.0.1")
    (result,) = asyncio.run(
        scan([target], [Community("public", version=SnmpVersion.V1)],
             SessionSettings(timeout=2, retries=1))
    )  # fmt: skip
    assert (result.answered, result.printer, result.reason) == (True, True, "printer_mib")
    assert result.sys_descr == "Old printer"
    # The sweep's GETNEXT, then the session's GET of the system group and its GETNEXT walk of
    # the Printer-MIB (a row, then the next object, past the MIB).
    assert device.received == 4


def test_a_sweep_rate_that_is_not_positive_is_refused_before_any_probe():
    result = subprocess.run(
        [sys.executable, "-m", "kdfm_agent.cli", "scan", "127.0.0.1", "--probes-per-second", "0"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "probes_per_second must be positive, got 0.0" in result.stderr
