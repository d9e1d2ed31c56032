"""Revocation: `kdfm-cloud agent revoke` refuses the agent on gRPC at its next call and drops it
from the broker, which it logs in to with its certificate (real OpenBao and Mosquitto)."""

from __future__ import annotations

import asyncio
import logging
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from kdfm_agent import enroll, identity
from kdfm_agent.settings import MqttSettings as AgentMqttSettings
from kdfm_agent.uplink.errors import GatewayRefusedError
from kdfm_agent.uplink.grpc import ClientTls, GatewayClient
from kdfm_agent.uplink.mqtt import NudgeListener
from kdfm_cloud.agentbroker import AgentBroker
from kdfm_cloud.devstack.mosquitto import BrokerConfig, running_broker
from kdfm_cloud.devstack.openbao import Vault
from kdfm_cloud.gateway.server import running_gateway
from kdfm_cloud.nudge import NUDGER_PUBLISH, NudgePublisher
from kdfm_cloud.settings import MqttSettings
from kdfm_cloud.store import AgentKey

from ..uplink.runkit import wait_until
from .kit import make_kit

pytestmark = [pytest.mark.vault, pytest.mark.mqtt, pytest.mark.e2e]


def _cloud_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kdfm_cloud.cli", *args], capture_output=True,
                          text=True, timeout=120, check=False)


async def test_a_revoked_agent_is_refused_on_grpc_and_mqtt(
        tmp_path: Path, vault: Vault, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="kdfm_agent.uplink.mqtt")
    pki_bundle = tmp_path / "agents-ca.pem"
    pki_bundle.write_text(vault.root_ca_pem.strip() + "\n" + vault.int_ca_pem.strip() + "\n")
    with running_broker(BrokerConfig(agent_ca_file=str(pki_bundle)),
                        work_dir=tmp_path / "mosquitto") as broker:
        assert broker.agent_port is not None
        kit = make_kit(tmp_path / "cloud", vault, extra_ca=broker.ca_cert)
        nudger_password = secrets.token_urlsafe(16)
        broker.add_client("nudger", nudger_password, publish=[NUDGER_PUBLISH])
        (tmp_path / "nudger.pw").write_text(nudger_password)
        (tmp_path / "admin.pw").write_text(broker.admin_password)
        (tmp_path / "vault.token").write_text(vault.token)
        config = tmp_path / "cloud.yaml"
        config.write_text(yaml.safe_dump({
            "store": {"database": kit.database},
            "vault": {"addr": vault.addr, "token_file": str(tmp_path / "vault.token"),
                      "mount": vault.int_mount},
            "broker_admin": {"host": broker.host, "port": broker.mqtt_port,
                             "ca_file": str(broker.ca_cert), "admin_user": broker.admin_user,
                             "admin_password_file": str(tmp_path / "admin.pw")},
        }))
        code = kit.tenant_with_code("acme")
        state = tmp_path / "agent"
        nudges: list[int] = []
        try:
            async with running_gateway(kit.settings, kit.repository, signer=kit.signer,
                                       broker=AgentBroker(broker)) as running:
                record = await enroll.enroll(enroll.EnrollRequest(
                    gateway=f"127.0.0.1:{running.enroll_port}", code=code,
                    ca_bundle_pem=kit.ca_bundle.read_bytes(), state_dir=state, hostname="pc"))
                agent = AgentKey(record.tenant, record.agent_id)
                paths = identity.IdentityPaths.of(state)
                loaded = identity.load_identity(state)
                assert loaded is not None
                tls = ClientTls(loaded.ca_bundle_pem, loaded.certificate_chain_pem,
                                loaded.key_pem)
                mqtt = AgentMqttSettings(host=broker.host, port=broker.agent_port,
                                         transport="tcp", reconnect_min_seconds=1,
                                         reconnect_max_seconds=2)
                listener = NudgeListener(mqtt, record.tenant, record.agent_id, password="",
                                         ca_file=str(paths.ca_bundle),
                                         on_nudge=lambda: nudges.append(1),
                                         cert_file=str(paths.certificate),
                                         key_file=str(paths.key))
                publisher = NudgePublisher(MqttSettings(
                    host=broker.host, port=broker.mqtt_port, ca_file=str(broker.ca_cert),
                    username="nudger", password_file=str(tmp_path / "nudger.pw"),
                    client_id=f"nudger-{secrets.token_hex(4)}"))
                async with GatewayClient(record.gateway, record.tenant, record.agent_id,
                                         tls) as client, listener, publisher:
                    await client.poll()
                    # The broker knows the agent by its certificate: its own nudges arrive.
                    await wait_until(listener.subscribed.is_set, 60, "the nudge subscription")
                    await publisher.nudge(agent)
                    await wait_until(lambda: nudges, 60, "a nudge over the certificate login")

                    revoked = await asyncio.to_thread(_cloud_cli, "agent", "revoke",
                                                      record.agent_id, "--config", str(config))
                    assert revoked.returncode == 0, revoked.stderr
                    assert "disconnected" in revoked.stdout
                    # gRPC: refused on the very next call, on the open channel.
                    with pytest.raises(GatewayRefusedError, match="revoked"):
                        await client.poll()
                    # MQTT: dropped; a reconnect (still a valid TLS client) gets no topic.
                    await wait_until(lambda: "refused the subscription" in caplog.text, 60,
                                "the broker refusing the revoked agent's subscription")
                    assert not listener.subscribed.is_set()
            serials = kit.repository.trust.serials(agent)
        finally:
            kit.repository.close()
    assert serials
    for serial in serials:  # and Vault put it on its CRL
        data = vault.client().secrets.pki.read_certificate(serial, mount_point=vault.int_mount)
        assert data["data"]["revocation_time"] > 0
