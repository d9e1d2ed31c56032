"""The per-address fleet: every printer at its own loopback address, `public`, v3, Jetdirect."""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from harness.fleet import (
    FLEET_V3_USERS,
    FleetDevice,
    SnmpFleet,
    build_device_dirs,
    fleet_addresses,
    fleet_from_json,
    fleet_recordings,
    fleet_snmpget,
    link_or_copy,
    start_fleet,
)
from kdfm_cloud.devstack.errors import DevstackError
from kdfm_cloud.devstack.processes import pid_running

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
SUPPLIES_TABLE = "1.3.6.1.2.1.43.11"
JETDIRECT_CONTEXT_PRINTER = "hp_supplies-context-test"
REPO = Path(__file__).resolve().parents[2]


def _recording(fleet: SnmpFleet, stem: str) -> dict[str, tuple[str, str]]:
    # OID -> (tag, value) from the shared recording, read as snmpsim's grammar reads it
    # (ISO-8859-1, each line stripped), to compare with what is served.
    text = (fleet.recordings_dir / f"{stem}.snmprec").read_bytes().decode("iso-8859-1")
    records: dict[str, tuple[str, str]] = {}
    for line in text.splitlines():
        if line.strip():
            oid, tag, value = line.strip().split("|", 2)
            records[oid] = (tag, value)
    return records


def _recorded_bytes(fleet: SnmpFleet, stem: str, oid: str) -> bytes:
    tag, value = _recording(fleet, stem)[oid]
    assert tag in ("4", "4x"), f"{stem} {oid} is not an OCTET STRING (tag {tag})"
    return bytes.fromhex(value) if tag == "4x" else value.encode("iso-8859-1")


def _served_bytes(output: str) -> bytes:
    # `snmpget -Onx` prints an OCTET STRING as `Hex-STRING: 48 50 ...`, wrapped over lines.
    _, _, value = output.partition("= ")
    if value.strip() == '""':
        return b""
    assert value.startswith("Hex-STRING:"), output
    return bytes.fromhex("".join(value.removeprefix("Hex-STRING:").split()))


def _walk(device: FleetDevice, oid: str, auth: list[str]) -> dict[str, str]:
    result = subprocess.run(["snmpwalk", "-On", "-t", "5", "-r", "1", *auth,
                             device.endpoint(), oid],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    # Only rows inside the subtree: an empty walk prints one "No more variables" row for `oid`.
    rows = [line.split(" = ", 1) for line in result.stdout.splitlines() if " = " in line]
    return {name.lstrip("."): value for name, value in rows
            if name.lstrip(".").startswith(oid + ".")}


def test_one_printer_per_recording_in_sorted_order(snmp_fleet: SnmpFleet) -> None:
    stems = sorted(p.name.removesuffix(".snmprec")
                   for p in snmp_fleet.recordings_dir.glob("*.snmprec") if "@" not in p.name)
    assert [d.recording for d in snmp_fleet.devices] == stems
    first = ipaddress.ip_address("127.77.0.1")
    assert snmp_fleet.addresses() == tuple(str(first + i) for i in range(len(stems)))
    assert {d.port for d in snmp_fleet.devices} == {snmp_fleet.port}
    assert snmp_fleet.device(JETDIRECT_CONTEXT_PRINTER).contexts == ("Jetdirect",)


def test_every_printer_answers_public_with_its_own_sysdescr(snmp_fleet: SnmpFleet) -> None:
    served = {}
    for device in snmp_fleet.devices:
        result = fleet_snmpget(device, SYS_DESCR, output_options="nx")
        assert result.returncode == 0, f"{device.endpoint()}: {result.stderr}"
        served[device.recording] = _served_bytes(result.stdout)
    expected = {d.recording: _recorded_bytes(snmp_fleet, d.recording, SYS_DESCR)
                for d in snmp_fleet.devices}
    assert served == expected
    # Not one recording behind every address: the fleet shows as many models as recordings.
    assert len(set(served.values())) >= len(served) - 1


def test_address_outside_the_fleet_gets_no_answer(snmp_fleet: SnmpFleet) -> None:
    last = ipaddress.ip_address(snmp_fleet.devices[-1].address)
    outside = FleetDevice("none", str(last + 1), snmp_fleet.port)
    control = fleet_snmpget(snmp_fleet.devices[-1], SYS_OBJECT_ID)
    assert control.returncode == 0, control.stderr
    result = fleet_snmpget(outside, SYS_OBJECT_ID, timeout=2, retries=0)
    assert result.returncode != 0
    assert "Timeout" in result.stderr, result.stderr


@pytest.mark.parametrize("community", ["private", "hp_color-laserjet-m452nw"])
def test_other_communities_get_no_answer(snmp_fleet: SnmpFleet, community: str) -> None:
    # The single-address harness's stem communities must not leak into the realistic site.
    device = snmp_fleet.device("hp_color-laserjet-m452nw")
    result = fleet_snmpget(device, SYS_OBJECT_ID, community=community, timeout=2, retries=0)
    assert result.returncode != 0
    assert "Timeout" in result.stderr, result.stderr


def test_jetdirect_context_by_community_index_serves_the_supplies_table(
        snmp_fleet: SnmpFleet) -> None:
    device = snmp_fleet.device(JETDIRECT_CONTEXT_PRINTER)
    recorded = {oid for oid in _recording(snmp_fleet, f"{device.recording}@Jetdirect")
                if oid.startswith(SUPPLIES_TABLE + ".")}
    assert len(recorded) == 16
    in_context = _walk(device, SUPPLIES_TABLE,
                       ["-v2c", "-c", device.community_for("Jetdirect")])
    assert set(in_context) == recorded
    assert in_context["1.3.6.1.2.1.43.11.1.1.6.1.1"] == 'STRING: "Black Cartridge"'
    assert in_context["1.3.6.1.2.1.43.11.1.1.9.1.2"] == "INTEGER: 47"
    # The default context of this synthetic printer has no supplies table at all.
    assert _walk(device, SUPPLIES_TABLE, ["-v2c", "-c", "public"]) == {}


def test_jetdirect_context_by_v3_context_name(snmp_fleet: SnmpFleet) -> None:
    device = snmp_fleet.device(JETDIRECT_CONTEXT_PRINTER)
    user = snmp_fleet.user("kdfm-sha-aes")
    in_context = _walk(device, SUPPLIES_TABLE, [*user.net_snmp_args(), "-n", "Jetdirect"])
    assert in_context["1.3.6.1.2.1.43.11.1.1.6.1.4"] == 'STRING: "Yellow Cartridge"'
    assert len(in_context) == 16
    default = fleet_snmpget(device, SYS_DESCR, user=user, output_options="nx")
    assert default.returncode == 0, default.stderr
    assert _served_bytes(default.stdout) == _recorded_bytes(snmp_fleet, device.recording,
                                                            SYS_DESCR)


def test_every_context_recording_answers_in_its_context(snmp_fleet: SnmpFleet) -> None:
    user = snmp_fleet.user("kdfm-sha256-aes")
    for device in snmp_fleet.devices:
        for context in device.contexts:
            recording = _recording(snmp_fleet, f"{device.recording}@{context}")
            oid, (tag, _value) = next(iter(recording.items()))
            by_community = fleet_snmpget(device, oid, community=device.community_for(context),
                                         output_options="nx")
            by_context = fleet_snmpget(device, oid, user=user, context=context,
                                       output_options="nx")
            for result in (by_community, by_context):
                assert result.returncode == 0, result.stderr
                assert "No Such" not in result.stdout, result.stdout
            if tag in ("4", "4x"):
                assert _served_bytes(by_context.stdout) == _recorded_bytes(
                    snmp_fleet, f"{device.recording}@{context}", oid)


@pytest.mark.parametrize("name", [u.name for u in FLEET_V3_USERS])
def test_v3_user_reads_a_printer_in_the_default_context(snmp_fleet: SnmpFleet,
                                                        name: str) -> None:
    device = snmp_fleet.device("brother_mfc-l2710dw")
    result = fleet_snmpget(device, SYS_OBJECT_ID, user=snmp_fleet.user(name))
    assert result.returncode == 0, result.stderr
    _tag, expected = _recording(snmp_fleet, device.recording)[SYS_OBJECT_ID]
    assert result.stdout.strip() == f".{SYS_OBJECT_ID} = OID: .{expected}"


def test_v3_wrong_auth_key_is_refused(snmp_fleet: SnmpFleet) -> None:
    device = snmp_fleet.device("zebra_tlp-2824-plus")
    bad = replace(snmp_fleet.user("kdfm-sha-aes"), auth_key="wrong-auth-key")
    result = fleet_snmpget(device, SYS_OBJECT_ID, user=bad, timeout=3, retries=0)
    assert result.returncode != 0
    assert "Authentication failure" in result.stderr, result.stderr


def test_fleet_recordings_rejects_a_context_without_its_printer(tmp_path: Path) -> None:
    (tmp_path / "a.snmprec").write_text("1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.11\n")
    (tmp_path / "b@Jetdirect.snmprec").write_text("1.3.6.1.2.1.43.11.1.1.6.1.1|4|Black\n")
    with pytest.raises(ValueError, match=r"b@Jetdirect\.snmprec .* has no printer recording b"):
        fleet_recordings(tmp_path)


def test_fleet_addresses_stay_on_loopback() -> None:
    assert fleet_addresses(3, "127.77.0.254") == ("127.77.0.254", "127.77.0.255", "127.77.1.0")
    with pytest.raises(ValueError, match=r"128\.0\.0\.0 is outside 127\.0\.0\.0/8"):
        fleet_addresses(2, "127.255.255.255")
    with pytest.raises(ValueError, match=r"10\.0\.0\.1 is outside 127\.0\.0\.0/8"):
        fleet_addresses(1, "10.0.0.1")


def test_device_dirs_hold_hard_links_and_refuse_the_git_tree(tmp_path: Path,
                                                             recordings_dir: Path) -> None:
    device = FleetDevice(JETDIRECT_CONTEXT_PRINTER, "127.77.0.9", 16161, ("Jetdirect",))
    build_device_dirs(recordings_dir, tmp_path / "devices", [device], "public")
    device_dir = tmp_path / "devices" / "127.77.0.9"
    names = sorted(p.name for p in device_dir.iterdir())
    assert names == ["Jetdirect.snmprec", "public.snmprec", "public@Jetdirect.snmprec",
                     "self.snmprec"]
    for name in names:
        assert not (device_dir / name).is_symlink()
    source = recordings_dir / f"{JETDIRECT_CONTEXT_PRINTER}.snmprec"
    if source.stat().st_dev == device_dir.stat().st_dev:
        assert (device_dir / "public.snmprec").stat().st_ino == source.stat().st_ino
    assert (device_dir / "self.snmprec").read_bytes() == source.read_bytes()
    with pytest.raises(ValueError, match="inside a git work tree"):
        build_device_dirs(recordings_dir, REPO / ".kdfm" / "fleet-test", [device], "public")
    assert not (REPO / ".kdfm" / "fleet-test").exists()


def test_link_or_copy_replaces_an_existing_target(tmp_path: Path) -> None:
    source = tmp_path / "source.snmprec"
    source.write_text("1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.11\n")
    target = tmp_path / "target.snmprec"
    target.write_text("stale\n")
    link_or_copy(source, target)
    assert target.read_text() == source.read_text()


@pytest.mark.snmp
def test_site_module_per_address_up_and_down(tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "tests"),
                                                         os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "harness.site"]
    up = subprocess.run([*command, "up", "--per-address", "--first-address", "127.77.1.1",
                         "--state-dir", str(state)],
                        capture_output=True, text=True, env=env, cwd=REPO, timeout=180)
    try:
        assert up.returncode == 0, up.stderr
        info = json.loads((state / "site.json").read_text())
        pid = int((state / "snmpsim.pid").read_text())
        assert Path(f"/proc/{pid}").exists()
        devices = info["devices"]
        assert devices[0]["address"] == "127.77.1.1"
        assert {"recording", "address", "port"} <= set(devices[0])
        assert {u["name"] for u in info["v3_users"]} == {u.name for u in FLEET_V3_USERS}
        fleet = fleet_from_json((state / "site.json").read_text())
        devices_dir = fleet.devices_dir
        assert not devices_dir.is_relative_to(REPO)
        zebra = fleet.device("zebra_tlp-2824-plus")
        answer = fleet_snmpget(zebra, SYS_OBJECT_ID)
        assert answer.returncode == 0, answer.stderr
        v3 = fleet_snmpget(zebra, SYS_OBJECT_ID, user=fleet.user("kdfm-sha256-aes"))
        assert v3.returncode == 0, v3.stderr
        assert answer.stdout == v3.stdout
    finally:
        down = subprocess.run([*command, "down", "--state-dir", str(state)],
                              capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
    assert down.returncode == 0, down.stderr
    assert "snmpsim stopped" in down.stdout
    assert not (state / "snmpsim.pid").exists()
    assert not devices_dir.exists()
    assert not pid_running(pid)



def test_a_fixed_port_taken_on_one_address_is_refused(tmp_path: Path,
                                                      recordings_dir: Path) -> None:
    # Checked before snmpsim starts: a snmpsim on a taken endpoint would run but serve nothing.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind(("127.77.2.3", 0))
        port = squatter.getsockname()[1]
        with pytest.raises(DevstackError, match=f"UDP port {port} is taken"):
            start_fleet(recordings_dir, work_dir=tmp_path, first_address="127.77.2.1",
                        port=port)
    assert not (tmp_path / "snmpsim.log").exists()
