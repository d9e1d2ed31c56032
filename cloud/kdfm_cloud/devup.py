"""`kdfm-cloud dev up|down`: OpenBao with PKI, Mosquitto with TLS + WSS, and the gateway on
SQLite, all on free loopback ports in the background, recorded in a state directory.

Layout of the state directory:
    openbao/  mosquitto/         the devstack launchers' own state (pid files, logs)
    tls/                         gateway certificate from the PKI, ca-bundle.pem
    cloud.yaml  cloud.db         the gateway's configuration and database
    vault.token  broker-admin.password  nudger.password   secrets the gateway reads (0600)
    gateway.pid  gateway.log
    endpoints.json               where everything listens (kdfm_cloud.endpoints)

Nothing tenant-specific is made here: tenants, their PKI roles and activation codes come from
`kdfm-cloud tenant create` and `kdfm-cloud activation-code create`.
"""

from __future__ import annotations

import secrets
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import yaml

from kdfm_cloud import vaultpki
from kdfm_cloud.devstack import mosquitto, openbao
from kdfm_cloud.devstack.errors import DevstackError
from kdfm_cloud.devstack.processes import (
    free_port,
    start_process,
    stop_pid_file,
    wait_until,
    write_pid_file,
    write_secret_file,
)
from kdfm_cloud.endpoints import ENDPOINTS_FILE, write_endpoints
from kdfm_cloud.nudge import NUDGER_PUBLISH
from kdfm_cloud.store import sqlite_url

GATEWAY_PID = "gateway.pid"
NUDGER_USER = "kdfm-cloud-nudger"
STARTUP_TIMEOUT_SECONDS = 90.0


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _wait_listening(port: int, alive: Callable[[], bool], log: Path) -> None:
    wait_until(lambda: _listening(port), timeout=STARTUP_TIMEOUT_SECONDS,
               what=f"gateway on 127.0.0.1:{port}", alive=alive, log_path=log)


def up(state_dir: Path) -> dict[str, str]:
    """Start the stack; answers the endpoints (also written to endpoints.json)."""
    state_dir = state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    if (state_dir / ENDPOINTS_FILE).exists() or (state_dir / GATEWAY_PID).exists():
        raise DevstackError(f"a stack is already up in {state_dir}: run `kdfm-cloud dev down`")
    undo: list[Callable[[], object]] = []
    try:
        vault = openbao.start(openbao.OpenBaoConfig(dev=True), state_dir / "openbao")
        undo.append(lambda: openbao.stop(state_dir / "openbao"))
        client = vault.client()
        tls_dir = state_dir / "tls"
        cert, key = vaultpki.issue_server(client, vault.int_mount, vault.role).write(
            tls_dir, "gateway")
        pki_bundle = tls_dir / "pki-ca.pem"
        pki_bundle.write_text(vault.root_ca_pem.strip() + "\n" + vault.int_ca_pem.strip() + "\n")

        # Agents log in to the broker with their PKI certificate (CN = agent id).
        broker = mosquitto.start(mosquitto.BrokerConfig(agent_ca_file=str(pki_bundle)),
                                 state_dir / "mosquitto")
        undo.append(lambda: mosquitto.stop(state_dir / "mosquitto"))
        password = secrets.token_urlsafe(24)
        broker.add_client(NUDGER_USER, password, publish=[NUDGER_PUBLISH],
                          subscribe=["kdfm/v1/+/agents/+/status"])
        password_file = write_secret_file(state_dir / "nudger.password", password)
        admin_file = write_secret_file(state_dir / "broker-admin.password", broker.admin_password)
        token_file = write_secret_file(state_dir / "vault.token", vault.token)
        ca_bundle = tls_dir / "ca-bundle.pem"
        ca_bundle.write_text(pki_bundle.read_text() + broker.ca_cert.read_text())

        port, enroll_port = free_port(), free_port()
        database = sqlite_url(state_dir / "cloud.db")
        config = state_dir / "cloud.yaml"
        config.write_text(yaml.safe_dump({
            "gateway": {"listen": f"127.0.0.1:{port}",
                        "tls": {"cert_file": str(cert), "key_file": str(key),
                                "client_ca_file": str(pki_bundle)},
                        "enroll": {"listen": f"127.0.0.1:{enroll_port}",
                                   "ca_bundle_file": str(ca_bundle)}},
            "store": {"database": database},
            "mqtt": {"host": broker.host, "port": broker.mqtt_port, "transport": "tcp",
                     "ca_file": str(broker.ca_cert), "username": NUDGER_USER,
                     "password_file": str(password_file)},
            "vault": {"addr": vault.addr, "token_file": str(token_file),
                      "mount": vault.int_mount},
            "broker_admin": {"host": broker.host, "port": broker.mqtt_port,
                             "ca_file": str(broker.ca_cert), "admin_user": broker.admin_user,
                             "admin_password_file": str(admin_file)},
        }))
        log = state_dir / "gateway.log"
        process = start_process("gateway", [sys.executable, "-m", "kdfm_cloud.cli", "serve",
                                            "--config", str(config)], log_path=log)
        write_pid_file(state_dir / GATEWAY_PID, process.pid)
        undo.append(lambda: stop_pid_file(state_dir / GATEWAY_PID))
        _wait_listening(port, process.alive, log)
        _wait_listening(enroll_port, process.alive, log)
        endpoints = {
            # What an agent is given: it enrols here and learns gateway_mtls from the answer.
            "gateway": f"127.0.0.1:{enroll_port}",
            "gateway_mtls": f"127.0.0.1:{port}",
            "ca_bundle": str(ca_bundle),
            "mqtt_wss": f"wss://{broker.host}:{broker.wss_port}",
            "mqtt_tls": f"mqtts://{broker.host}:{broker.mqtt_port}",
            "mqtt_agents": f"mqtts://{broker.host}:{broker.agent_port}",
            "vault": vault.addr,
            "database": database,
        }
        write_endpoints(state_dir, endpoints)
    except BaseException:
        for step in reversed(undo):
            step()
        raise
    return endpoints


def down(state_dir: Path) -> list[str]:
    """Stop whatever of the stack runs in `state_dir`; answers the names of what was stopped."""
    state_dir = state_dir.resolve()
    stopped = []
    if stop_pid_file(state_dir / GATEWAY_PID):
        stopped.append("gateway")
    if mosquitto.stop(state_dir / "mosquitto"):
        stopped.append("mosquitto")
    if openbao.stop(state_dir / "openbao"):
        stopped.append("openbao")
    (state_dir / ENDPOINTS_FILE).unlink(missing_ok=True)
    return stopped


