"""`kdfm-agent read` as a user runs it: a real process against the simulated site."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

AGENT = [sys.executable, "-m", "kdfm_agent.cli"]
IDENTITY_KEYS = {"vendor", "model", "serial_number", "mac_address", "firmware", "sys_object_id",
                 "sys_descr", "sys_name", "location", "contact"}  # fmt: skip
SUPPLY_KEYS = {"index", "description", "type", "supply_class", "colorant", "unit", "raw_level",
               "raw_max_capacity", "state", "percent", "serial_number"}  # fmt: skip


def agent(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*AGENT, *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.snmp
def test_json_lines_follow_the_contract(snmp_site):
    result = agent("read", snmp_site.endpoint(), "--community", "brother_mfc-l2710dw",
                   "--json", "--summary", "--timeout", "5", "--retries", "2")  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "devices=1 ok=1 errors=0"
    device = json.loads(lines[0])
    assert {"target", "identity", "status", "counters", "supplies", "alerts", "errors",
            "trays"} <= device.keys()  # fmt: skip
    assert device["target"] == snmp_site.endpoint()
    assert set(device["identity"]) == IDENTITY_KEYS
    assert device["identity"]["serial_number"] == "000A5J431816"
    assert device["identity"]["vendor"] == "Brother"
    toner, drum = device["supplies"]
    assert toner.keys() >= SUPPLY_KEYS
    # Level -3 with capacity -2: a typed state, never a number.
    assert (toner["raw_level"], toner["state"], toner["percent"]) == (-3, "some_remaining", None)
    assert (drum["raw_level"], drum["raw_max_capacity"], drum["percent"]) == (11501, 12000, 95.8)
    assert [t["description"] for t in device["trays"]] == ["AUTO", "MANUAL TRAY", "TRAY1"]
    assert toner["serial_number"] is None  # Brother does not say its cartridge's serial


@pytest.mark.snmp
def test_json_carries_the_cartridge_serial_apart_from_the_name(snmp_site):
    result = agent("read", snmp_site.endpoint(), "--community", "xerox_altalink-c8045",
                   "--json", "--timeout", "5", "--retries", "2")  # fmt: skip
    assert result.returncode == 0, result.stderr
    supplies = {s["index"]: s for s in json.loads(result.stdout.splitlines()[0])["supplies"]}
    black, fuser = supplies[1], supplies[9]
    assert (black["description"], black["part_number"], black["serial_number"]) == (
        "Black Toner", "006R01509", "48178080E0000481")
    # "SNunknown": the firmware has no serial for a chipless part; not reported, not "unknown".
    assert (fuser["description"], fuser["serial_number"]) == ("Fuser", None)


@pytest.mark.snmp
def test_counters_carry_source_and_unit(snmp_site):
    result = agent("read", snmp_site.endpoint(), "--community", "ricoh_aficio-mp-c3002", "--json")
    assert result.returncode == 0, result.stderr
    counters = {c["name"]: c for c in json.loads(result.stdout)["counters"]}
    assert counters["life_count"] == {"name": "life_count", "value": 271871, "unit": "sheets",
                                      "source": "1.3.6.1.2.1.43.10.2.1.4.1.1"}  # fmt: skip
    assert counters["power_on_count"]["value"] == 138


@pytest.mark.snmp
def test_unreachable_device_is_reported_and_the_others_still_read(snmp_site, tmp_path: Path):
    # 127.0.0.1:9 (discard) never answers SNMP; the site still must be read.
    targets = tmp_path / "targets.txt"
    targets.write_text(f"# two devices\n127.0.0.1:9\n{snmp_site.endpoint()}\n")
    result = agent("read", "--targets-file", str(targets), "--community", "zebra_tlp-2824-plus",
                   "--json", "--summary", "--timeout", "0.5", "--retries", "1")  # fmt: skip
    assert result.returncode == 1
    *devices, summary = result.stdout.splitlines()
    assert summary == "devices=2 ok=1 errors=1"
    by_target = {d["target"]: d for d in map(json.loads, devices)}
    assert by_target["127.0.0.1:9"]["errors"][0]["code"] == "timeout"
    assert by_target[snmp_site.endpoint()]["identity"]["serial_number"] == "7062184"


@pytest.mark.snmp
def test_text_output_is_readable(snmp_site):
    result = agent("read", snmp_site.endpoint(), "--community", "hp_supplies-context-test")
    assert result.returncode == 0, result.stderr
    # The supplies live only in the "Jetdirect" context: read through the HP profile's quirk.
    assert "HP Color LaserJet Test" in result.stdout
    assert "Black Cartridge" in result.stdout and "61.0%" in result.stdout


def test_usage_errors_exit_2():
    assert agent("read").returncode == 2
    result = agent("read", "printer:99999")
    assert result.returncode == 2
    assert "port '99999'" in result.stderr
    result = agent("read", "127.0.0.1", "--v3-auth-key", "x" * 8)
    assert result.returncode == 2
    assert "without --v3-user" in result.stderr


@pytest.mark.snmp
def test_v3_user_with_context(snmp_site):
    user = snmp_site.user("kdfm-sha256-aes")
    result = agent(
        "read", snmp_site.endpoint(), "--json", "--v3-user", user.name,
        "--v3-auth-proto", "SHA256", "--v3-auth-key", user.auth_key,
        "--v3-priv-proto", "AES128", "--v3-priv-key", user.priv_key,
        "--v3-context", snmp_site.v3_context("xerox_altalink-c8045"),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    device = json.loads(result.stdout)
    assert device["credential"] == f"v3:{user.name}@xerox_altalink-c8045"
    assert device["identity"]["model"] == "AltaLink C8045"
    black = device["supplies"][0]
    assert (black["description"], black["part_number"], black["percent"]) == (
        "Black Toner",
        "006R01509",
        20.0,
    )
