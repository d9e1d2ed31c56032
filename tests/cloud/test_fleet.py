"""`kdfm-cloud fleet`: tables for people, JSON for scripts, on both back ends."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kdfm_cloud.cli import main
from kdfm_cloud.endpoints import write_endpoints
from kdfm_cloud.store import AgentKey, SqlRepository
from kdfm_proto.v1 import reading_pb2 as pb

from .conftest import MakeReading

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def filled(repository: SqlRepository, make_reading: MakeReading) -> SqlRepository:
    repository.store_readings(AgentKey("tenant-a", "agent-1"), [
        make_reading("a-1", serial="SN-A", collected_at=NOW),
        make_reading("a-2", serial="SN-A", collected_at=NOW + timedelta(minutes=5),
                     toner_state=pb.SUPPLY_STATE_SOME_REMAINING, toner_percent=None),
    ], NOW)
    repository.store_readings(AgentKey("tenant-b", "agent-9"), [
        make_reading("b-1", serial="SN-B", collected_at=NOW, toner_percent=7.0,
                     toner_state=pb.SUPPLY_STATE_LOW, alert_code="markerTonerAlmostEmpty",
                     toner_part="TN-2410", toner_serial="C7654321",
                     toner_vendor_state="brToner1Low=1"),
    ], NOW)
    return repository


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["fleet", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_supplies_as_json_keep_typed_state_and_unknown_percent(
        filled: SqlRepository, database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "supplies", "--json", "--database", database_url)
    assert code == 0
    toners = {(r["tenant"], r["serial_number"]): r for r in json.loads(out)
              if r["kind"] == "supply"}
    assert toners[("tenant-a", "SN-A")]["state"] == "some_remaining"
    assert toners[("tenant-a", "SN-A")]["percent"] is None
    assert (toners[("tenant-b", "SN-B")]["state"], toners[("tenant-b", "SN-B")]["percent"]) == (
        "low", 7.0)
    cartridge = ("part_number", "cartridge_serial", "vendor_state")
    assert [toners[("tenant-b", "SN-B")][k] for k in cartridge] == [
        "TN-2410", "C7654321", "brToner1Low=1"]
    assert [toners[("tenant-a", "SN-A")][k] for k in cartridge] == [
        "TN-2420", "C1234567", "brToner1Low=0"]
    trays = [r for r in json.loads(out) if r["kind"] == "tray"]
    assert trays and all(r[k] is None for r in trays for k in cartridge)


def test_tables_for_people(filled: SqlRepository, database_url: str,
                           capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "supplies", "--tenant", "tenant-b", "--database", database_url)
    assert code == 0
    header, *lines = out.strip().splitlines()
    assert header.split()[:3] == ["TENANT", "DEVICE_ID", "SERIAL_NUMBER"]
    assert header.split()[-5:] == ["PART_NUMBER", "CARTRIDGE_SERIAL", "VENDOR_STATE", "STATE",
                                   "PERCENT"]
    toner = next(line for line in lines if " supply " in line)
    assert toner.split()[-5:] == ["TN-2410", "C7654321", "brToner1Low=1", "low", "7%"]
    tray = next(line for line in lines if " tray " in line)
    # Not said: "-"; no percent column value when unknown.
    assert tray.split()[-4:] == ["-", "-", "-", "unknown"]

    code, out, _ = _run(capsys, "devices", "--database", database_url)
    assert code == 0 and "SN-A" in out and "SN-B" in out and len(out.strip().splitlines()) == 3

    code, out, _ = _run(capsys, "alerts", "--json", "--tenant", "tenant-b",
                        "--database", database_url)
    assert [a["code"] for a in json.loads(out)] == ["markerTonerAlmostEmpty"]

    code, out, _ = _run(capsys, "readings", "--json", "--database", database_url)
    # Newest first; equal times in arrival order, newest first.
    assert [r["reading_id"] for r in json.loads(out)] == ["a-2", "b-1", "a-1"]


def test_the_state_dir_finds_the_stack_database(filled: SqlRepository, database_url: str,
                                                tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    write_endpoints(tmp_path, {"gateway": "127.0.0.1:1", "gateway_mtls": "127.0.0.1:5",
                               "ca_bundle": "ca.pem", "mqtt_wss": "wss://127.0.0.1:2",
                               "mqtt_tls": "mqtts://127.0.0.1:3",
                               "mqtt_agents": "mqtts://127.0.0.1:6",
                               "vault": "http://127.0.0.1:4", "database": database_url})
    code, out, _ = _run(capsys, "devices", "--json", "--state-dir", str(tmp_path))
    assert code == 0 and len(json.loads(out)) == 2


def test_no_stack_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "devices", "--state-dir", str(tmp_path / "nothing"))
    assert code == 2
    assert "kdfm-cloud dev up" in err
