"""The `make demo` sequence against the dev stack, command for command, and what its logs hold:

    kdfm-cloud dev up
    kdfm-cloud tenant create demo --region eu-central --dpa-signed-by "Demo Dealer"
    kdfm-cloud activation-code create --tenant demo
    kdfm-agent enroll --gateway <endpoints.gateway> --code C --ca-bundle <endpoints.ca_bundle> ...
    kdfm-agent run
    kdfm-cloud fleet devices
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from harness.snmpsim import SnmpSite

from .kit import Service, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.vault, pytest.mark.mqtt, pytest.mark.snmp]

RECORDING = "brother_mfc-l2710dw"
SERIAL = "000A5J431816"


def _run(tool: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", f"kdfm_{tool}.cli", *argv], capture_output=True,
                          text=True, timeout=300, check=False)


def test_the_demo_sequence_enrols_reads_and_shows_the_fleet(tmp_path: Path,
                                                          snmp_site: SnmpSite) -> None:
    stack, agent_dir = tmp_path / "dev", tmp_path / "agent"
    outputs: list[str] = []
    agent: Service | None = None
    try:
        up = _run("cloud", "dev", "up", "--state-dir", str(stack), "--json")
        assert up.returncode == 0, up.stderr
        endpoints = json.loads(up.stdout)
        # dev up makes nothing tenant-specific.
        assert _run("cloud", "tenant", "show", "demo", "--state-dir", str(stack)).returncode == 1

        tenant = _run("cloud", "tenant", "create", "demo", "--region", "eu-central",
                      "--dpa-signed-by", "Demo Dealer", "--state-dir", str(stack))
        assert tenant.returncode == 0, tenant.stderr
        issued = _run("cloud", "activation-code", "create", "--tenant", "demo",
                      "--state-dir", str(stack))
        assert issued.returncode == 0, issued.stderr
        code = issued.stdout.strip().splitlines()[-1]
        assert len(code) > 30 and " " not in code

        enrolled = _run("agent", "enroll", "--gateway", endpoints["gateway"], "--code", code,
                        "--ca-bundle", endpoints["ca_bundle"], "--state-dir", str(agent_dir))
        outputs += [enrolled.stdout, enrolled.stderr]
        assert enrolled.returncode == 0, enrolled.stderr
        record = json.loads((agent_dir / "identity" / "agent.json").read_text())
        assert record["tenant"] == "demo"
        assert record["gateway"] == endpoints["gateway_mtls"]

        host, port = endpoints["mqtt_agents"].removeprefix("mqtts://").rsplit(":", 1)
        config = tmp_path / "agent.yaml"
        config.write_text(yaml.safe_dump({
            "state_dir": str(agent_dir),
            "gateway": {"address": endpoints["gateway"]},  # as given to enroll: mapped
            "mqtt": {"host": host, "port": int(port), "transport": "tcp"},
            "read": {"targets": [snmp_site.endpoint()], "timeout_seconds": 2.0, "retries": 1,
                     "credentials": [{"name": "recording", "community": RECORDING}]},
        }))
        agent = Service([sys.executable, "-m", "kdfm_agent.cli", "run", "--config",
                         str(config), "--log-level", "DEBUG"], tmp_path / "agent.log").start()

        def devices() -> list[dict[str, object]]:
            shown = _run("cloud", "fleet", "devices", "--json", "--state-dir", str(stack))
            assert shown.returncode == 0, shown.stderr
            return list(json.loads(shown.stdout))

        found = wait_for(devices, 120, "the printer in `kdfm-cloud fleet devices`", interval=1)
        assert [(d["tenant"], d["serial_number"], d["agent_id"]) for d in found] == [
            ("demo", SERIAL, record["agent_id"])]
        # Logged in to the broker with its certificate.
        wait_for(lambda: "connected to broker" in agent.log(), 60, "the agent's MQTT login")
        table = _run("cloud", "fleet", "devices", "--state-dir", str(stack))
        assert SERIAL in table.stdout
    finally:
        if agent is not None:
            agent.ensure_stopped()
        down = _run("cloud", "dev", "down", "--state-dir", str(stack))
    assert down.returncode == 0, down.stderr

    # No secret in any log of the run: gateway log, agent output, agent log.
    logs = "\n".join([*outputs, agent.log(), (stack / "gateway.log").read_text()])
    assert "enrolled from" in logs and "uploaded" in logs  # the logs are the real ones
    secrets_ = [code, code.split("-", 1)[1], (stack / "vault.token").read_text().strip(),
                (stack / "broker-admin.password").read_text().strip(),
                (stack / "nudger.password").read_text().strip()]
    key_lines = (agent_dir / "identity" / "agent.key").read_text().splitlines()[1:-1]
    for secret in [*secrets_, *key_lines]:
        assert secret and secret not in logs
    assert "PRIVATE KEY" not in logs
