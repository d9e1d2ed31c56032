"""gRPC through an HTTPS proxy: a real tinyproxy (Debian package `tinyproxy`) on a free loopback
port, allowed to CONNECT to the gateway's port only; the agent's readings reach the gateway
and the proxy's log shows the tunnel they went through."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from harness.snmpsim import SnmpSite
from kdfm_cloud.store import AgentKey, SqlRepository

from ..cloud.kit import Pki, free_tcp_port, wait_for
from .runkit import agent, agent_settings, gateway, stored_readings, wait_until

pytestmark = [pytest.mark.snmp, pytest.mark.e2e]

RECORDING = "brother_mfc-l2710dw"


@contextmanager
def tinyproxy(directory: Path, connect_port: int) -> Iterator[tuple[int, Path]]:
    """tinyproxy on a free loopback port that tunnels to `connect_port` only; (port, log)."""
    binary = shutil.which("tinyproxy") or "/usr/bin/tinyproxy"
    if not Path(binary).exists():
        pytest.fail("tinyproxy is missing: apt-get install tinyproxy (Makefile DEBS)")
    port = free_tcp_port()
    log = directory / "tinyproxy.log"
    config = directory / "tinyproxy.conf"
    config.write_text(f"""Port {port}
Listen 127.0.0.1
Timeout 60
LogFile "{log}"
LogLevel Connect
MaxClients 20
Allow 127.0.0.1
ConnectPort {connect_port}
""")
    process = subprocess.Popen([binary, "-d", "-c", str(config)], stdout=subprocess.DEVNULL,
                               stderr=(directory / "tinyproxy.err").open("wb"))
    try:
        def accepting() -> bool:
            assert process.poll() is None, (directory / "tinyproxy.err").read_text()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return True
            except OSError:
                return False

        wait_for(accepting, 60, f"tinyproxy on 127.0.0.1:{port}")
        yield port, log
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


async def test_readings_go_through_the_https_proxy(
        tmp_path: Path, pki: Pki, snmp_site: SnmpSite,
        sqlite_repository: SqlRepository) -> None:
    repository = sqlite_repository
    key = AgentKey(f"t-{uuid.uuid4().hex[:8]}", "agent-1")
    settings = agent_settings(tmp_path / "state", [snmp_site.endpoint()], RECORDING)
    async with gateway(pki, repository) as address:
        gateway_port = int(address.rsplit(":", 1)[1])
        with tinyproxy(tmp_path, gateway_port) as (proxy_port, log):
            settings = replace(settings, gateway=replace(
                settings.gateway, proxy=f"http://127.0.0.1:{proxy_port}"))
            async with agent(pki, key, address, settings) as running:
                await wait_until(lambda: stored_readings(repository, key.tenant), 120,
                                 "a reading uploaded through the proxy")
                await wait_until(lambda: running.runner.polls > 0, 60, "a poll")
            text = log.read_text()
    # The agent's channel is a CONNECT tunnel to the gateway, opened by the proxy.
    assert re.search(rf"Request \(file descriptor \d+\): CONNECT 127\.0\.0\.1:{gateway_port} "
                     r"HTTP/1\.1", text), text
    assert 'Established connection to host "127.0.0.1"' in text, text
