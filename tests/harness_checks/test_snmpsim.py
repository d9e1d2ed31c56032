"""snmpsim answers SNMPv2c and SNMPv3 GETs for every supported auth/priv user, refuses bad keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from harness.snmpsim import DEFAULT_V3_USERS, SnmpSite, V3User, snmpget, v3_context_name
from kdfm_cloud.devstack.processes import pid_running

pytestmark = pytest.mark.snmp

SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
REPO = Path(__file__).resolve().parents[2]


def _recorded_value(site: SnmpSite, community: str, oid: str) -> str:
    # The value column of `oid` in the recording itself, to compare with what snmpsim serves.
    for line in (site.data_dir / f"{community}.snmprec").read_text().splitlines():
        recorded_oid, _tag, value = line.split("|", 2)
        if recorded_oid == oid:
            return value
    raise AssertionError(f"{oid} not recorded for {community}")


def test_v2c_get_returns_the_recorded_value(snmp_site: SnmpSite) -> None:
    community = "hp_color-laserjet-m452nw"
    assert community in snmp_site.communities
    result = snmpget(snmp_site, SYS_OBJECT_ID, community=community)
    assert result.returncode == 0, result.stderr
    expected = _recorded_value(snmp_site, community, SYS_OBJECT_ID)
    assert result.stdout.strip() == f".{SYS_OBJECT_ID} = OID: .{expected}"


def test_every_recording_is_served_under_its_file_stem(snmp_site: SnmpSite) -> None:
    stems = sorted(p.name.removesuffix(".snmprec") for p in snmp_site.data_dir.glob("*.snmprec"))
    assert list(snmp_site.communities) == stems
    assert "hp_supplies-context-test@Jetdirect" in snmp_site.communities


def test_jetdirect_context_file_answers_as_community(snmp_site: SnmpSite) -> None:
    community = "hp_supplies-context-test@Jetdirect"
    first_oid = (snmp_site.data_dir / f"{community}.snmprec").read_text().split("|", 1)[0]
    result = snmpget(snmp_site, first_oid, community=community)
    assert result.returncode == 0, result.stderr
    assert f"INTEGER: {_recorded_value(snmp_site, community, first_oid)}" in result.stdout


@pytest.mark.parametrize("user", DEFAULT_V3_USERS, ids=lambda u: u.name)
def test_v3_get_with_each_supported_user(snmp_site: SnmpSite, user: V3User) -> None:
    community = "brother_mfc-l2710dw"
    v3_user = snmp_site.user(user.name)
    result = snmpget(snmp_site, SYS_OBJECT_ID, user=v3_user, context=community)
    assert result.returncode == 0, result.stderr
    assert _recorded_value(snmp_site, community, SYS_OBJECT_ID) in result.stdout


def test_v3_context_longer_than_32_characters_is_its_md5(snmp_site: SnmpSite) -> None:
    community = "hp_supplies-context-test@Jetdirect"
    assert len(community) > 32
    context = snmp_site.v3_context(community)
    assert context == v3_context_name(community) != community
    first_oid = (snmp_site.data_dir / f"{community}.snmprec").read_text().split("|", 1)[0]
    user = snmp_site.user("kdfm-sha256-aes")
    result = snmpget(snmp_site, first_oid, user=user, context=context)
    assert result.returncode == 0, result.stderr
    assert f"INTEGER: {_recorded_value(snmp_site, community, first_oid)}" in result.stdout


@pytest.mark.parametrize("which", ["auth", "priv"])
def test_v3_wrong_key_is_refused(snmp_site: SnmpSite, which: str) -> None:
    good = snmp_site.user("kdfm-sha256-aes")
    bad = (replace(good, auth_key="wrong-auth-key") if which == "auth"
           else replace(good, priv_key="wrong-priv-key"))
    control = snmpget(snmp_site, SYS_OBJECT_ID, user=good, context="samsung_ml-2850")
    assert control.returncode == 0, control.stderr
    result = snmpget(snmp_site, SYS_OBJECT_ID, user=bad, context="samsung_ml-2850",
                     timeout=5, retries=0)
    assert result.returncode != 0
    assert "OID:" not in result.stdout
    # A wrong auth key fails USM authentication (report PDU); with a wrong priv key the agent
    # cannot decrypt the request and sends back a decryption-error report.
    expected = "Authentication failure" if which == "auth" else "Decryption error"
    assert expected in result.stderr, result.stderr


def test_unknown_v3_user_is_refused(snmp_site: SnmpSite) -> None:
    stranger = replace(snmp_site.user("kdfm-sha-aes"), name="stranger")
    result = snmpget(snmp_site, SYS_OBJECT_ID, user=stranger, context="samsung_ml-2850",
                     timeout=5, retries=0)
    assert result.returncode != 0
    assert "Unknown user name" in result.stderr, result.stderr


def test_site_module_up_and_down(tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "tests"),
                                                         os.environ.get("PYTHONPATH", "")])}
    up = subprocess.run([sys.executable, "-m", "harness.site", "up", "--state-dir", str(state)],
                        capture_output=True, text=True, env=env, cwd=REPO, timeout=180)
    try:
        assert up.returncode == 0, up.stderr
        info = json.loads((state / "site.json").read_text())
        pid = int((state / "snmpsim.pid").read_text())
        assert Path(f"/proc/{pid}").exists()
        site = SnmpSite(host=info["host"], port=info["port"], data_dir=Path(info["data_dir"]),
                        communities=tuple(info["communities"]), v3_users=())
        answer = snmpget(site, SYS_OBJECT_ID, community="zebra_tlp-2824-plus")
        assert answer.returncode == 0, answer.stderr
        assert _recorded_value(site, "zebra_tlp-2824-plus", SYS_OBJECT_ID) in answer.stdout
    finally:
        down = subprocess.run([sys.executable, "-m", "harness.site", "down", "--state-dir",
                               str(state)], capture_output=True, text=True, env=env, cwd=REPO,
                              timeout=60)
    assert down.returncode == 0, down.stderr
    assert "snmpsim stopped" in down.stdout
    assert not (state / "snmpsim.pid").exists()
    assert not pid_running(pid)

