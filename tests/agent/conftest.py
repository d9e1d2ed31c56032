"""Agent test fixtures: a hostile UDP "device" (a test double for broken firmware, not for a
library)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from kdfm_cloud.devstack.processes import free_port, start_process, wait_until

Responder = Callable[[bytes], bytes | list[bytes] | None]
"""Given a request datagram, the datagram(s) to answer (None = stay silent)."""


@dataclass
class HostileDevice:
    """A UDP socket on 127.0.0.1 answering with whatever `respond` returns; counts requests."""

    respond: Responder
    sock: socket.socket = field(init=False)
    received: int = 0

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            self.received += 1
            answer = self.respond(data)
            for datagram in [answer] if isinstance(answer, bytes) else answer or []:
                self.sock.sendto(datagram, peer)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.sock.close()


@pytest.fixture
def hostile_device() -> Iterator[Callable[[Responder], HostileDevice]]:
    devices: list[HostileDevice] = []

    def start(respond: Responder) -> HostileDevice:
        device = HostileDevice(respond)
        devices.append(device)
        return device

    try:
        yield start
    finally:
        for device in devices:
            device.close()


# --- net-snmp snmpd with one SNMPv3 user per auth/priv combination ---------------------------

SNMPD = "/usr/sbin/snmpd"
V3_AUTH_KEY = "kdfm-auth-pass"
V3_PRIV_KEY = "kdfm-priv-pass"
NET_SNMP_AUTH = {"MD5": "MD5", "SHA": "SHA", "SHA224": "SHA-224", "SHA256": "SHA-256",
                 "SHA384": "SHA-384", "SHA512": "SHA-512"}  # fmt: skip
NET_SNMP_PRIV = {"DES": "DES", "AES128": "AES", "AES192": "AES-192", "AES256": "AES-256"}


def v3_user_name(auth: str | None, priv: str | None) -> str:
    """The snmpd user for an auth/priv combination (our enum values; None = not used)."""
    return f"u_{(auth or 'none').lower()}_{(priv or 'none').lower()}"


@dataclass(frozen=True)
class NetSnmpAgent:
    """A running net-snmp snmpd on 127.0.0.1:`port` with the users of `v3_user_name`."""

    port: int
    engine_log: Path


def _snmpd_config(port: int, persistent: Path) -> str:
    lines = [
        # Running as root in a test: the agent must not try to change user or read system files.
        "dontLogTCPWrappersConnects yes",
        f"[snmp] persistentDir {persistent}",
        f"createUser {v3_user_name(None, None)}",
        f"rouser {v3_user_name(None, None)} noauth",
    ]
    for auth, net_auth in NET_SNMP_AUTH.items():
        lines.append(f'createUser {v3_user_name(auth, None)} {net_auth} "{V3_AUTH_KEY}"')
        lines.append(f"rouser {v3_user_name(auth, None)} auth")
        for priv, net_priv in NET_SNMP_PRIV.items():
            name = v3_user_name(auth, priv)
            lines.append(f'createUser {name} {net_auth} "{V3_AUTH_KEY}" {net_priv} "{V3_PRIV_KEY}"')
            lines.append(f"rouser {name} priv")
    lines.append("sysDescr KDFM v3 test agent")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="session")
def net_snmp_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetSnmpAgent]:
    """net-snmp's snmpd serving its system group to one v3 user per auth/priv combination."""
    if not os.access(SNMPD, os.X_OK) or shutil.which("snmpget") is None:
        pytest.skip("Debian's snmpd and snmp packages are not installed")
    work = tmp_path_factory.mktemp("snmpd-v3")
    persistent = work / "persist"
    persistent.mkdir()
    last_error = ""
    for _ in range(5):  # a free port can be taken between the check and the bind
        port = free_port(kind=socket.SOCK_DGRAM)
        conf = work / "snmpd.conf"
        conf.write_text(_snmpd_config(port, persistent))
        log = work / f"snmpd-{port}.log"
        process = start_process(
            "snmpd",
            [SNMPD, "-f", "-Lo", "-C", "-c", str(conf), "-M", "/dev/null",
             "-p", str(work / "snmpd.pid"), f"udp:127.0.0.1:{port}"],
            log_path=log,
            env={"SNMP_PERSISTENT_DIR": str(persistent), "MIBS": ""},
        )  # fmt: skip
        try:
            try:
                wait_until(
                    lambda port=port: _answers(port),
                    timeout=60,
                    what="snmpd",
                    alive=process.alive,
                    log_path=log,
                )
            except Exception as err:
                last_error = str(err)
                continue
            yield NetSnmpAgent(port=port, engine_log=log)
            return
        finally:
            process.stop()
    pytest.fail(f"snmpd did not start: {last_error}")


def _answers(port: int) -> bool:
    result = subprocess.run(
        ["snmpget", "-M", "/dev/null", "-v3", "-l", "noAuthNoPriv", "-u",
         v3_user_name(None, None), "-r", "0", "-t", "0.5", "-On", f"127.0.0.1:{port}",
         "1.3.6.1.2.1.1.1.0"],
        capture_output=True, text=True, timeout=10, check=False,
    )  # fmt: skip
    return result.returncode == 0 and "KDFM v3 test agent" in result.stdout
