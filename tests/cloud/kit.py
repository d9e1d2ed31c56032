"""Helpers shared by the cloud and uplink tests: readings as agents send them, and a PKI."""

from __future__ import annotations

import dataclasses
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from kdfm_cloud.devstack.mosquitto import Broker
from kdfm_cloud.devstack.processes import free_port
from kdfm_cloud.nudge import NUDGER_PUBLISH, agent_acl
from kdfm_cloud.pki import CertificateAuthority, CertifiedKey
from kdfm_cloud.settings import GatewaySettings, TlsSettings
from kdfm_cloud.store import AgentKey
from kdfm_proto.v1 import reading_pb2 as pb


def build_reading(reading_id: str | None = None, *, serial: str | None = "SN-1",
                  mac: str | None = "94:57:a5:34:df:33", address: str = "10.0.0.5",
                  collected_at: datetime | None = None, toner_state: int = pb.SUPPLY_STATE_OK,
                  toner_percent: float | None = 42.0, alert_code: str = "tonerLow",
                  toner_part: str | None = "TN-2420", toner_serial: str | None = "C1234567",
                  toner_vendor_state: str | None = "brToner1Low=0") -> pb.Reading:
    """A reading with one toner (with its cartridge), one tray, two counters and one alert."""
    reading = pb.Reading(reading_id=reading_id or uuid.uuid4().hex, target=address,
                         address=address, profile="generic")
    reading.collected_at.FromDatetime(collected_at or datetime.now(UTC))
    if serial is not None:
        reading.identity.serial_number = serial
    if mac is not None:
        reading.identity.mac_address = mac
    reading.identity.vendor = "Brother"
    reading.identity.model = "MFC-L2710DW"
    toner = reading.supplies.add(index=1, description="Black Toner", colorant="black",
                                 supply_class=pb.SUPPLY_CLASS_CONSUMED, state=toner_state,
                                 unit="percent", raw_max_capacity=100)
    if toner_percent is not None:
        toner.percent = toner_percent
        toner.raw_level = int(toner_percent)
    else:
        toner.raw_level = -3
    # The cartridge's own details; the tray (also a Supply message) reports none of them.
    if toner_part is not None:
        toner.part_number = toner_part
    if toner_serial is not None:
        toner.serial_number = toner_serial
    if toner_vendor_state is not None:
        toner.vendor_state = toner_vendor_state
    reading.trays.add(index=1, description="Tray 1", state=pb.SUPPLY_STATE_UNKNOWN, raw_level=-2)
    reading.counters.add(name="total", value=12345, unit="impressions",
                         source="1.3.6.1.2.1.43.10.2.1.4.1.1")
    reading.counters.add(name="mono", value=12000, unit="impressions",
                         source="1.3.6.1.4.1.2435.2.3.9.4.2.1.5.5.52.21.0")
    reading.alerts.add(index=1, severity="warning", code=alert_code, group="markerSupplies",
                       description="Toner Low")
    return reading


@dataclass
class Pki:
    """A throwaway CA with the gateway's certificate, written to a directory."""

    directory: Path
    ca: CertificateAuthority = field(default_factory=CertificateAuthority.create)
    _agents: dict[AgentKey, CertifiedKey] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ca_file = self.directory / "ca.crt"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.ca_file.write_bytes(self.ca.cert_pem)
        self.server_cert, self.server_key = self.ca.issue_server().write(self.directory,
                                                                          "gateway")

    def agent(self, tenant: str, agent_id: str) -> CertifiedKey:
        """The client certificate of an agent (issued once per agent)."""
        key = AgentKey(tenant, agent_id)
        if key not in self._agents:
            self._agents[key] = self.ca.issue_agent(key)
        return self._agents[key]

    def agent_files(self, tenant: str, agent_id: str) -> tuple[Path, Path]:
        """The agent's certificate and key as files."""
        return self.agent(tenant, agent_id).write(self.directory, f"{tenant}-{agent_id}")

    def gateway_settings(self, **overrides: Any) -> GatewaySettings:
        """Gateway settings on a free loopback port with this PKI."""
        settings = GatewaySettings(listen="127.0.0.1:0", shutdown_grace_seconds=2.0,
                                   tls=TlsSettings(cert_file=str(self.server_cert),
                                                   key_file=str(self.server_key),
                                                   client_ca_file=str(self.ca_file)))
        return dataclasses.replace(settings, **overrides)


def free_tcp_port() -> int:
    """A loopback TCP port that was free a moment ago (kept across restarts of a server)."""
    return free_port()


def wait_for(condition: Callable[[], Any], timeout: float, what: str,
             interval: float = 0.05) -> Any:
    """Poll `condition` until it returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


@dataclass
class Service:
    """A kdfm-cloud or kdfm-agent command running as a real process (stdout+stderr to a log)."""

    argv: list[str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Service:
        """Start it (again)."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        """True while the process runs."""
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        """Everything it wrote so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM and wait; answers the exit status."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL and reap: a crash, as far as the process can tell."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=60)

    def ensure_stopped(self) -> None:
        """For finally blocks: terminate, kill if that does not work."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            self.terminate(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()


def gateway_service(pki: Pki, directory: Path, database: str, port: int,
                    poll_interval_seconds: int = 300, workers: int = 1) -> Service:
    """`kdfm-cloud serve` on `port` with this PKI (not started)."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "cloud.yaml"
    config.write_text(yaml.safe_dump({
        "gateway": {"listen": f"127.0.0.1:{port}", "poll_interval_seconds": poll_interval_seconds,
                    "shutdown_grace_seconds": 5.0, "workers": workers,
                    "tls": {"cert_file": str(pki.server_cert), "key_file": str(pki.server_key),
                            "client_ca_file": str(pki.ca_file)}},
        "store": {"database": database},
    }))
    return Service([sys.executable, "-m", "kdfm_cloud.cli", "serve", "--config", str(config)],
                   directory / "gateway.log")


def wait_listening(port: int, timeout: float = 60) -> None:
    """Wait until something accepts TCP connections on the loopback port."""
    def accepting() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    wait_for(accepting, timeout, f"a listener on 127.0.0.1:{port}")


@dataclass(frozen=True)
class NudgeAccounts:
    """Broker accounts of one agent and of the cloud's nudger for its tenant, passwords on disk."""

    agent_username: str
    agent_password_file: Path
    nudger_username: str
    nudger_password: str
    nudger_password_file: Path

    def agent_mqtt(self, broker: Broker, transport: str = "websockets") -> dict[str, Any]:
        """The agent's `mqtt:` settings for this broker over WSS (default) or MQTT/TLS."""
        port = broker.wss_port if transport == "websockets" else broker.mqtt_port
        return {"host": broker.host, "port": port, "transport": transport,
                "ca_file": str(broker.ca_cert), "username": self.agent_username,
                "password_file": str(self.agent_password_file)}


@contextmanager
def nudge_accounts(broker: Broker, agent: AgentKey, directory: Path) -> Iterator[NudgeAccounts]:
    """The agent's account (its own ACL) and a nudger for the tenant; removed afterwards."""
    accounts = NudgeAccounts(
        agent_username=f"{agent.tenant}-{agent.agent_id}",
        agent_password_file=directory / "agent.pw",
        nudger_username=f"{agent.tenant}-nudger", nudger_password=secrets.token_urlsafe(16),
        nudger_password_file=directory / "nudger.pw")
    agent_password = secrets.token_urlsafe(16)
    accounts.agent_password_file.write_text(agent_password)
    accounts.nudger_password_file.write_text(accounts.nudger_password)
    publish, subscribe = agent_acl(agent)
    broker.add_client(accounts.agent_username, agent_password, publish=publish,
                      subscribe=subscribe)
    broker.add_client(accounts.nudger_username, accounts.nudger_password,
                      publish=[NUDGER_PUBLISH], subscribe=["kdfm/v1/#"])
    try:
        yield accounts
    finally:
        broker.remove_client(accounts.agent_username)
        broker.remove_client(accounts.nudger_username)
