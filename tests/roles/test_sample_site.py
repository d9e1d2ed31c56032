"""The sample site `make demo` falls back to without $KDFM_RECORDINGS: it answers, and the agent
reads the typed states the synthetic printers were written with."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from harness.sample_site import SAMPLE_PRINTERS, snmprec_lines
from harness.site import sample_recordings_dir
from roles.rolekit import REPO

pytestmark = [pytest.mark.snmp]


def _harness_site(action: str, state_dir: Path,
                  recordings: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KDFM_RECORDINGS": str(recordings), "SNMPSIM_ALLOW_ROOT": "true",
           "PYTHONPATH": str(REPO / "tests")}
    argv = [sys.executable, "-m", "harness.site", action, "--state-dir", str(state_dir)]
    if action == "up":
        argv.append("--per-address")
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=180)


def test_snmprec_lines_are_sorted_by_oid() -> None:
    for printer in SAMPLE_PRINTERS:
        keys = [tuple(int(p) for p in line.split("|")[0].split(".")) for line in
                snmprec_lines(printer)]
        assert keys == sorted(keys) and len(set(keys)) == len(keys), printer.stem


def test_site_falls_back_to_the_sample_and_the_agent_reads_typed_states(tmp_path: Path) -> None:
    state_dir = tmp_path / "site"
    missing = tmp_path / "no-recordings-here"
    try:
        up = _harness_site("up", state_dir, missing)
        assert up.returncode == 0, up.stderr
        assert f"recordings directory {missing} does not exist" in up.stdout
        assert "serving the sample site instead, 3 synthetic printers" in up.stdout
        site = json.loads((state_dir / "site.json").read_text())
        targets = [f"{d['address']}:{d['port']}" for d in site["devices"]]
        assert len(targets) == len(SAMPLE_PRINTERS)
        read = subprocess.run([str(Path(sys.executable).parent / "kdfm-agent"), "read", "--json",
                               "--timeout", "3", "--retries", "2", *targets],
                              capture_output=True, text=True, timeout=180)
        assert read.returncode == 0, read.stderr
        readings: dict[str, dict[str, Any]] = {}
        for line in read.stdout.splitlines():
            reading = json.loads(line)
            readings[reading["identity"]["serial_number"]] = reading
    finally:
        down = _harness_site("down", state_dir, missing)
    assert down.returncode == 0, down.stderr
    assert not sample_recordings_dir(state_dir).exists()

    assert sorted(readings) == sorted(p.serial_number for p in SAMPLE_PRINTERS)
    assert all(r["profile"] == "generic" and r["errors"] == [] for r in readings.values())

    mono = readings["KDFMSAMPLE0001"]
    assert mono["identity"]["mac_address"] == "02:00:5e:10:00:01"
    assert mono["counters"][0] == {"name": "life_count", "value": 12345, "unit": "impressions",
                                   "source": "1.3.6.1.2.1.43.10.2.1.4.1.1"}
    # -3 and -2 stay what they mean, never a made-up percentage.
    assert [(s["raw_level"], s["state"], s["percent"]) for s in mono["supplies"]] == [
        (-3, "some_remaining", None), (-2, "unknown", None)]

    color = readings["KDFMSAMPLE0002"]
    assert [(s["colorant"], s["state"], s["percent"]) for s in color["supplies"]] == [
        ("cyan", "ok", 64.0), ("magenta", "low", 5.0), ("yellow", "empty", 0.0),
        ("black", "some_remaining", None), (None, "unknown", None)]
    assert color["supplies"][4]["supply_class"] == "receptacle"
    assert [(a["severity"], a["code"]) for a in color["alerts"]] == [
        ("critical", "markerTonerEmpty"), ("warning", "doorOpen")]
    assert color["status"]["summary"] == "idle with warning"
    assert [(t["state"], t["percent"]) for t in color["trays"]] == [("ok", 64.0)]

    workgroup = readings["KDFMSAMPLE0003"]
    assert [(s["type"], s["state"], s["percent"]) for s in workgroup["supplies"]] == [
        ("toner", "ok", 75.0), ("wasteToner", "some_remaining", None)]
