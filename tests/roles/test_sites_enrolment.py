"""The issue's check: the playbook over real SSH against 10 network-namespace sites, each with
printers of its own, enrols every agent at the dev stack and every agent uploads readings.

What runs for real: the dev stack (OpenBao PKI, Mosquitto, the gateway on SQLite), one tenant
and one activation code per site from `kdfm-cloud`, 10 sites with sshd (harness.netns), one
snmpsim on the sites' bridge serving two sample printers per site (roles.site_printers), and
the stack's loopback ports made reachable on each site's own loopback (roles.netns_forward).
The stops at an unreachable or failing site are in test_sites_rollout.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kdfm_cloud import devup
from roles.netns_forward import forwarded_into
from roles.netns_rollout import Rollout, SiteFactory
from roles.rolekit import Wheelhouses, stop_agents
from roles.site_printers import printers_on_bridge

pytestmark = [pytest.mark.sites, pytest.mark.slow]

SITES = 10
TENANT = "rollout"
UPLOAD_TIMEOUT = 300.0
"""Seconds for the first readings of all agents to arrive (10 agents on a loaded 2-core box)."""


def _cloud(state_dir: Path, *argv: str) -> str:
    result = subprocess.run([sys.executable, "-m", "kdfm_cloud.cli", *argv,
                             "--state-dir", str(state_dir)],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"kdfm-cloud {' '.join(argv)}: {result.stderr}"
    return result.stdout


@pytest.fixture
def dev_stack(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """`kdfm-cloud dev up` in the test's own state directory, always brought down."""
    state_dir = tmp_path / "dev"
    try:
        yield state_dir, devup.up(state_dir)
    finally:
        devup.down(state_dir)


def _port(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


def _readings(state_dir: Path) -> list[dict[str, Any]]:
    out = _cloud(state_dir, "fleet", "readings", "--tenant", TENANT, "--limit", "100000",
                 "--json")
    return list(json.loads(out or "[]"))


@pytest.mark.timeout(1800)
def test_ten_sites_enrol_and_upload(sites: SiteFactory, wheelhouses: Wheelhouses,
                                    dev_stack: tuple[Path, dict[str, str]],
                                    tmp_path: Path) -> None:
    stack, endpoints = dev_stack
    fleet = sites(SITES)
    _cloud(stack, "tenant", "create", TENANT, "--region", "eu-central",
           "--dpa-signed-by", "Test Dealer")
    codes = [_cloud(stack, "activation-code", "create", "--tenant", TENANT).strip()
             .splitlines()[-1] for _ in fleet]
    mqtt_host, _, mqtt_port = endpoints["mqtt_agents"].removeprefix("mqtts://").rpartition(":")
    rollout = Rollout(tmp_path / "rollout", {
        "dca_agent_wheelhouse_dir": str(wheelhouses.root),
        "dca_agent_version": wheelhouses.base,
        "dca_agent_gateway": endpoints["gateway"],
        "dca_agent_ca_bundle": Path(endpoints["ca_bundle"]).read_text(),
        "dca_agent_mqtt_host": mqtt_host,
        "dca_agent_mqtt_port": int(mqtt_port),
        "dca_agent_mqtt_transport": "mqtts8883",
        # The sites have no systemd: the agent's own `kdfm-agent ctl`, inside the namespace.
        "dca_agent_service_manager": "none",
        "dca_agent_read_interval_seconds": 60,
        "dca_agent_poll_interval_seconds": 30,
    })
    ports = [_port(endpoints["gateway"]), _port(endpoints["gateway_mtls"]), int(mqtt_port)]
    try:
        with forwarded_into([s.netns for s in fleet], ports), \
                printers_on_bridge(fleet, tmp_path / "printers") as printers:
            for site, code in zip(fleet, codes, strict=True):
                # Per host: each site has its own code and its own printers.
                rollout.add(site, dca_agent_activation_code=code,
                            dca_agent_snmp_targets=[p.endpoint for p in printers[site.name]])
            started = time.monotonic()
            first = rollout.deploy()
            first_seconds = time.monotonic() - started
            assert first.returncode == 0, first.output[-8000:]
            # serial [1, 10%, 100%] over 10 sites: batches of 1, 1 and 8.
            assert first.output.count("PLAY [Deploy the KDFM data collection agent]") == 3
            agents: dict[str, str] = {}
            for site in fleet:
                assert first.recap[site.name].changed > 0, site.name
                assert rollout.running(site.name), f"no agent runs for {site.name}"
                record = json.loads((rollout.state_dir(site.name) / "identity" /
                                     "agent.json").read_text())
                assert record["tenant"] == TENANT
                agents[record["agent_id"]] = site.name
            assert len(agents) == SITES, "two sites share an agent id"
            # No code ever reaches the output, not even masked in an error.
            assert not any(code in first.output for code in codes)

            expected = {name: {p.serial_number for p in own} for name, own in printers.items()}
            deadline = time.monotonic() + UPLOAD_TIMEOUT
            seen: dict[str, set[str]] = {}
            while time.monotonic() < deadline:
                seen = {}
                for reading in _readings(stack):
                    site_name = agents.get(reading["agent_id"])
                    assert site_name is not None, f"a reading from a stranger: {reading}"
                    seen.setdefault(site_name, set()).add(reading["serial_number"])
                if seen == expected:
                    break
                time.sleep(2)
            assert seen == expected, (
                f"after {UPLOAD_TIMEOUT:.0f} s readings arrived from {sorted(seen)} only; "
                f"each site's serials: {seen}")

            # The re-run keeps every agent enrolled and running and changes nothing.
            second = rollout.deploy()
            assert second.returncode == 0, second.output[-6000:]
            assert all(second.recap[s.name].changed == 0 for s in fleet), second.output[-4000:]
            print(f"\n10 sites: first rollout {first_seconds:.1f} s")
    finally:
        stop_agents(rollout.state_dirs())

