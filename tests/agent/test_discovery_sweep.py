"""The discovery sweep: live printers found, silent addresses sent exactly retries + 1 probes."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import pytest
from kdfm_agent.credentials import Community
from kdfm_agent.discovery import expand, scan
from kdfm_agent.errors import TargetRefusedError
from kdfm_agent.snmp import SessionSettings
from kdfm_agent.snmp.sweep import SweepSettings, sweep
from kdfm_agent.targets import SendGuard


def _drain(sock: socket.socket) -> int:
    count = 0
    while True:
        try:
            sock.recvfrom(65535)
        except BlockingIOError:
            return count
        count += 1


@pytest.mark.snmp
@pytest.mark.parametrize("retries", [0, 1, 2])
def test_silent_addresses_get_exactly_retries_plus_one_probes(snmp_fleet, retries):
    live = set(snmp_fleet.addresses())
    first = ipaddress.ip_address(min(live, key=ipaddress.ip_address))
    block = [str(first + n) for n in range(len(live) + 40)]
    silent = [a for a in block if a not in live]
    # Sockets that never answer, on the fleet's port: each queues every probe it is sent.
    listeners = {}
    try:
        for address in silent:
            listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            listener.bind((address, snmp_fleet.port))
            listener.setblocking(False)
            listeners[address] = listener
        targets = asyncio.run(expand([f"{block[0]}-{block[-1]}"], [], snmp_fleet.port))
        settings = SessionSettings(timeout=0.5, retries=retries)
        results = asyncio.run(scan(targets, [Community(snmp_fleet.community)], settings))
        probes = {address: _drain(listener) for address, listener in listeners.items()}
    finally:
        for listener in listeners.values():
            listener.close()
    assert probes == {address: retries + 1 for address in silent}
    found = {r.address for r in results if r.answered}
    assert found == live
    assert all(r.printer for r in results if r.answered)
    quiet = [r for r in results if not r.answered]
    assert len(quiet) == len(silent)
    assert all(f"after {retries + 1} tries" in (r.error or "") for r in quiet)


@pytest.mark.snmp
def test_sweep_reads_the_system_group_of_live_devices_only(snmp_fleet):
    live = snmp_fleet.addresses()[:3]
    addresses = [*live, "127.0.0.77"]  # nobody listens there: ICMP unreachable, no reply
    replies = asyncio.run(
        sweep(addresses, Community(snmp_fleet.community), snmp_fleet.port,
              SweepSettings(timeout=0.5, retries=1), SendGuard(addresses))
    )  # fmt: skip
    assert set(replies) == set(live)
    for values in replies.values():
        assert str(values["1.3.6.1.2.1.1.2.0"]).startswith("1.3.6.1.4.1.")
        assert isinstance(values["1.3.6.1.2.1.1.1.0"], bytes)


def test_sweep_refuses_an_address_outside_the_guard_before_sending():
    with pytest.raises(TargetRefusedError):
        asyncio.run(
            sweep(["127.0.0.1", "127.0.0.9"], Community(), 161, SweepSettings(),
                  SendGuard(["127.0.0.1"]))
        )  # fmt: skip
