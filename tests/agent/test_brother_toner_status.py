"""BROTHER-MIB toner status codes give Brother toners a typed state the Printer-MIB withholds.

Brother firmware reports its toners as prtMarkerSuppliesLevel -3 ("some remaining"); the
per-colour scalars brToner1Low..brToner4Low say full, low, no cartridge or empty. The test
recordings in `recordings/` are served by real snmpsim and read like any printer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness.snmpsim import SnmpSite, running_site
from kdfm_agent.commands.read import read_one
from kdfm_agent.credentials import Community
from kdfm_agent.model import Reading
from kdfm_agent.snmp import Backend, SessionSettings
from kdfm_agent.targets import SendGuard, Target

RECORDINGS = Path(__file__).parent / "recordings"

pytestmark = pytest.mark.snmp


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnmpSite]:
    with running_site(RECORDINGS, v3_users=(), work_dir=tmp_path_factory.mktemp("brother")) as s:
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
