"""`kdfm-cloud dev up|down`: the whole local stack, and an agent certificate from its PKI."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from kdfm_agent import identity
from kdfm_agent.uplink.grpc import ClientTls, GatewayClient
from kdfm_cloud.agentpki import AgentSigner
from kdfm_cloud.devstack.openbao import Vault
from kdfm_cloud.endpoints import KEYS
from kdfm_cloud.store import AgentKey

from .kit import build_reading

pytestmark = [pytest.mark.e2e, pytest.mark.vault, pytest.mark.mqtt]


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kdfm_cloud.cli", *argv], capture_output=True,
                          text=True, timeout=300)


def _accepting(hostport: str) -> bool:
    host, port = hostport.rsplit(":", 1)
    try:
        with socket.create_connection((host.split("//")[-1], int(port)), timeout=2):
            return True
    except OSError:
        return False


def test_dev_up_serves_agents_with_pki_certificates_and_down_stops_it(tmp_path: Path) -> None:
    state = tmp_path / "dev"
    try:
        up = _cli("dev", "up", "--state-dir", str(state), "--json")
        assert up.returncode == 0, up.stderr
        endpoints = json.loads(up.stdout)
        assert set(endpoints) == set(KEYS)
        assert json.loads((state / "endpoints.json").read_text()) == endpoints
        for name in ("gateway", "gateway_mtls", "mqtt_wss", "mqtt_tls", "mqtt_agents", "vault"):
            assert _accepting(endpoints[name]), name

        again = _cli("dev", "up", "--state-dir", str(state))
        assert again.returncode == 1 and "already up" in again.stderr

        vault = Vault(**json.loads((state / "openbao" / "openbao.json").read_text()))
        agent = AgentKey("tenant-dev", "agent-7")
        # Signed the way the gateway signs an enrolling agent: the tenant's own PKI role.
        key = identity.new_private_key()
        signed = AgentSigner(vault.client(), vault.int_mount, "1h").sign_now(
            agent, identity.build_csr(key, "dev-host"))
        tls = ClientTls(Path(endpoints["ca_bundle"]).read_bytes(),
                        signed.certificate_pem + signed.chain_pem, identity.key_pem(key))

        async def talk() -> list[str]:
            async with GatewayClient(endpoints["gateway_mtls"], agent.tenant, agent.agent_id, tls,
                                     server_name="localhost") as gateway:
                assert (await gateway.poll()).next_poll_seconds == 300
                response = await gateway.upload([build_reading("dev-1", serial="SN-DEV")])
                return list(response.acknowledged)

        assert asyncio.run(talk()) == ["dev-1"]
        fleet = _cli("fleet", "devices", "--json", "--state-dir", str(state))
        assert fleet.returncode == 0, fleet.stderr
        assert [(d["tenant"], d["serial_number"]) for d in json.loads(fleet.stdout)] == [
            ("tenant-dev", "SN-DEV")]
    finally:
        down = _cli("dev", "down", "--state-dir", str(state))
    assert down.returncode == 0, down.stderr
    assert "gateway" in down.stdout and "mosquitto" in down.stdout and "openbao" in down.stdout
    assert not _accepting(endpoints["gateway"])
    assert not _accepting(endpoints["gateway_mtls"])
    assert not (state / "endpoints.json").exists()
