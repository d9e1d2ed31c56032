"""BROTHER-MIB toner status codes give Brother toners a typed state the Printer-MIB withholds.

Brother firmware reports its toners as prtMarkerSuppliesLevel -3 ("some remaining"); the
per-colour scalars brToner1Low..brToner4Low (BROTHER-MIB ver.091.1) say full, low, no
cartridge or empty. No captured walk carries them, so these printers are synthetic
(harness.sample_site), written for the test and served by real snmpsim like any recording.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from harness.sample_site import (
    INTEGER,
    LEVEL_SOME_REMAINING,
    LEVEL_UNKNOWN,
    TYPE_OPC,
    TYPE_TONER,
    UNIT_IMPRESSIONS,
    UNIT_TENTHS_OF_GRAMS,
    SamplePrinter,
    SampleSupply,
    write_sample_site,
)
from harness.snmpsim import SnmpSite, running_site
from kdfm_agent.commands.read import read_one
from kdfm_agent.credentials import Community
from kdfm_agent.model import Reading
from kdfm_agent.snmp import Backend, SessionSettings
from kdfm_agent.targets import SendGuard, Target

pytestmark = pytest.mark.snmp

BROTHER_NC = "1.3.6.1.4.1.2435.2.3.9.1"
TONER_LOW = "1.3.6.1.4.1.2435.2.3.9.1.1.2.10"  # brToner<N>Low, N = 1 black .. 4 yellow


def brother(stem: str, supplies: tuple[SampleSupply, ...], codes: dict[int, int]) -> SamplePrinter:
    """A Brother print server (sysObjectID under NC-) with brToner<N>Low = codes[N]."""
    return SamplePrinter(
        stem=stem, model="Brother NC-TEST test printer", serial_number=f"BRTEST{len(stem)}",
        mac="02:00:5e:10:20:01", life_count=1000, supplies=supplies, sys_object_id=BROTHER_NC,
        vendor_objects=tuple((f"{TONER_LOW}.{n}", INTEGER, code) for n, code in codes.items()))


def toner(colour: str, max_capacity: int, level: int) -> SampleSupply:
    return SampleSupply(f"{colour.title()} Toner Cartridge", TYPE_TONER, max_capacity, level,
                        colorant=colour, unit=UNIT_TENTHS_OF_GRAMS)


PRINTERS = (
    brother("brother_toner-status-colour", (
        toner("black", LEVEL_UNKNOWN, LEVEL_SOME_REMAINING),
        toner("cyan", LEVEL_UNKNOWN, LEVEL_SOME_REMAINING),
        toner("magenta", LEVEL_UNKNOWN, LEVEL_SOME_REMAINING),
        toner("yellow", LEVEL_UNKNOWN, LEVEL_UNKNOWN),
        SampleSupply("Drum Unit", TYPE_OPC, 25_000, 16_805, unit=UNIT_IMPRESSIONS),
    ), {1: 1, 2: 0, 3: 3, 4: 2}),
    brother("brother_toner-status-mono", (
        toner("black", 100, 40),
        SampleSupply("Drum Unit", TYPE_OPC, 12_000, 3, unit=UNIT_IMPRESSIONS),
    ), {1: 1}),
    # 9 is outside the MIB's 0..3.
    brother("brother_toner-status-odd", (toner("black", LEVEL_UNKNOWN, LEVEL_SOME_REMAINING),),
            {1: 9}),
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnmpSite]:
    recordings = tmp_path_factory.mktemp("brother-recordings")
    write_sample_site(recordings, PRINTERS)
    with running_site(recordings, v3_users=(), work_dir=tmp_path_factory.mktemp("brother")) as s:
        yield s


def read(site: SnmpSite, community: str, backend: Backend = Backend.GUFO) -> Reading:
    target = Target(site.host, site.port, site.host)
    settings = SessionSettings(timeout=5, retries=2, backend=backend)
    guard = SendGuard.for_targets([target])
    return asyncio.run(read_one(target, [Community(community)], settings, guard))


def states(reading: Reading) -> dict[str, tuple[Any, ...]]:
    return {
        s.description or "?": (s.state.value, s.percent, s.raw_level, s.vendor_state)
        for s in reading.supplies
    }


@pytest.mark.parametrize("backend", [Backend.GUFO, Backend.PYSNMP])
def test_each_toner_status_code_gives_its_typed_state(site: SnmpSite, backend: Backend) -> None:
    reading = read(site, "brother_toner-status-colour", backend)
    assert reading.profile == "brother"
    assert reading.errors == ()
    assert states(reading) == {
        "Black Toner Cartridge": ("low", None, -3, "brToner1Low=1"),
        "Cyan Toner Cartridge": ("ok", None, -3, "brToner2Low=0"),
        "Magenta Toner Cartridge": ("empty", None, -3, "brToner3Low=3"),
        "Yellow Toner Cartridge": ("missing", None, -2, "brToner4Low=2"),
        # Not a toner: no status object speaks for it, its page count stays a number.
        "Drum Unit": ("ok", 67.2, 16805, None),
    }


def test_a_printer_mib_amount_is_never_overridden_by_the_coarser_code(site: SnmpSite) -> None:
    reading = read(site, "brother_toner-status-mono")
    assert reading.errors == ()
    assert states(reading) == {
        "Black Toner Cartridge": ("ok", 40.0, 40, None),
        # A real level of 3 pages is a level, not a Brother code (LibreNMS would say 1 %).
        "Drum Unit": ("low", 0.0, 3, None),
    }


def test_a_code_the_mib_does_not_define_leaves_the_printer_mib_state(site: SnmpSite) -> None:
    reading = read(site, "brother_toner-status-odd")
    assert reading.errors == ()
    assert states(reading) == {"Black Toner Cartridge": ("some_remaining", None, -3, None)}
