"""Every recording read through snmpsim, compared with its golden file and with LibreNMS.

Regenerate the golden files with `KDFM_UPDATE_GOLDEN=1 pytest tests/agent/test_golden.py`; the
hand-written `disagreements` list of each file is kept. A disagreement names one supply (or
counter) where we differ from LibreNMS on purpose, and says why.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest
from harness.snmpsim import communities_in, default_recordings_dir
from kdfm_agent.commands.read import read_one
from kdfm_agent.credentials import Community
from kdfm_agent.report import reading_to_json
from kdfm_agent.snmp import Backend, SessionSettings
from kdfm_agent.targets import SendGuard, Target

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("KDFM_UPDATE_GOLDEN") == "1"
VOLATILE = ("reading_id", "collected_at", "target", "address")
"""Fields that change from run to run (ids, clock, the simulator's port)."""

STEMS = [s for s in communities_in(default_recordings_dir()) if "@" not in s]
"""Every device recording; `name@context` files are contexts of `name`, read through it."""


def read_recording(site: Any, stem: str, backend: Backend = Backend.GUFO) -> dict[str, Any]:
    target = Target(site.host, site.port, site.host)
    settings = SessionSettings(timeout=5, retries=2, backend=backend)
    reading = asyncio.run(
        read_one(target, [Community(stem)], settings, SendGuard.for_targets([target]))
    )
    document = reading_to_json(reading)
    for key in VOLATILE:
        document.pop(key)
    return document


def golden_path(stem: str) -> Path:
    return GOLDEN / f"{stem}.json"


def load_golden(stem: str) -> dict[str, Any]:
    path = golden_path(stem)
    if not path.exists():
        pytest.fail(f"no golden file {path}; run with KDFM_UPDATE_GOLDEN=1 to create it")
    golden: dict[str, Any] = json.loads(path.read_text())
    return golden


@pytest.fixture(scope="module")
def readings(snmp_site: Any) -> dict[str, dict[str, Any]]:
    return {stem: read_recording(snmp_site, stem) for stem in STEMS}


@pytest.mark.snmp
@pytest.mark.parametrize("stem", STEMS)
def test_reading_matches_golden_file(readings: dict[str, dict[str, Any]], stem: str) -> None:
    reading = readings[stem]
    if UPDATE:
        previous = json.loads(golden_path(stem).read_text()) if golden_path(stem).exists() else {}
        document = {"disagreements": previous.get("disagreements", []), "reading": reading}
        golden_path(stem).write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    assert reading == load_golden(stem)["reading"]
    assert reading["errors"] == [], "a recording must read without device errors"


def expected(stem: str) -> dict[str, Any] | None:
    path = default_recordings_dir() / f"{stem}.expected.json"
    return json.loads(path.read_text()) if path.exists() else None


WITH_LIBRENMS = [s for s in STEMS if expected(s) is not None]


def disagreement(stem: str, kind: str, index: object) -> dict[str, Any] | None:
    for item in load_golden(stem).get("disagreements", []):
        if item["kind"] == kind and item["index"] == index:
            assert item.get("reason"), f"{stem}: disagreement on {kind} {index} needs a reason"
            return dict(item)
    return None


@pytest.mark.snmp
@pytest.mark.parametrize("stem", WITH_LIBRENMS)
def test_reading_agrees_with_librenms(readings: dict[str, dict[str, Any]], stem: str) -> None:
    librenms = expected(stem)
    assert librenms is not None
    reading = readings[stem]
    ours = {s["index"]: s for s in reading["supplies"]}
    checked = 0
    for theirs in (librenms.get("printer_supplies") or {}).get("discovery", []):
        if theirs["supply_type"] == "input" or "raw_level_in_recording" not in theirs:
            continue
        index = theirs["supply_index"]
        assert index in ours, f"LibreNMS has supply {index} ({theirs['supply_descr']}), we do not"
        supply = ours[index]
        assert supply["raw_level"] == theirs["raw_level_in_recording"]
        level, capacity = theirs["raw_level_in_recording"], theirs["raw_max_capacity_in_recording"]
        if level in (-2, -3):
            assert supply["percent"] is None
            assert supply["state"] == {-2: "unknown", -3: "some_remaining"}[level]
            checked += 1
        elif level >= 0 and capacity > 0:
            differs = disagreement(stem, "supply", index) or {}
            if differs.get("field") != "description":
                assert supply["description"] == theirs["supply_descr"]
            if differs.get("field") == "percent":
                assert supply["percent"] == differs["ours"]
            else:
                assert supply["percent"] == pytest.approx(theirs["supply_current"], abs=1)
            checked += 1
    counters = {c["source"]: c for c in reading["counters"]}
    for theirs in (librenms.get("counters") or {}).get("discovery", []):
        source = theirs["sensor_oid"].lstrip(".")
        assert source in counters, f"LibreNMS counter {theirs['sensor_descr']} ({source}) missing"
        assert counters[source]["value"] == theirs["sensor_current"]
        checked += 1
    serial = librenms["device"].get("serial")
    if serial:
        assert reading["identity"]["serial_number"] == serial
        checked += 1
    assert checked, "nothing compared: the expectation file has no usable values"


@pytest.mark.snmp
@pytest.mark.parametrize("stem", STEMS)
def test_gufo_and_pysnmp_read_the_same(
    snmp_site: Any, readings: dict[str, dict[str, Any]], stem: str
) -> None:
    assert read_recording(snmp_site, stem, Backend.PYSNMP) == readings[stem]
