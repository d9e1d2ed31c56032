"""`gateway.workers`: several `kdfm-cloud serve` processes on one port, supervised as one."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import yaml
from kdfm_agent.uplink.grpc import ClientTls, GatewayClient
from kdfm_cloud.store import open_repository

from .kit import (
    Pki,
    Service,
    build_reading,
    free_tcp_port,
    gateway_service,
    wait_for,
    wait_listening,
)

AGENTS = 16
"""Connections enough that the kernel gives both workers some (all on one: 2 in 65536)."""


def worker_pids(service: Service) -> list[int]:
    found = wait_for(lambda: re.search(r"gateway started \d+ workers \(pids ([\d ]+)\)",
                                       service.log()), 60, "the supervisor's start line")
    return [int(pid) for pid in found[1].split()]


def both_listening(service: Service) -> bool:
    log = service.log()
    return "[worker 0]: gateway listening" in log and "[worker 1]: gateway listening" in log


async def upload_from_agents(pki: Pki, port: int) -> set[str]:
    """Each agent on a connection of its own uploads three readings; answers their ids."""
    async def one(n: int) -> set[str]:
        issued = pki.agent("tenant-a", f"agent-{n}")
        tls = ClientTls(pki.ca.cert_pem, issued.cert_pem, issued.key_pem)
        readings = [build_reading(serial=f"SN-{n}-{k}") for k in range(3)]
        async with GatewayClient(f"127.0.0.1:{port}", "tenant-a", f"agent-{n}", tls,
                                 server_name="localhost", timeout_seconds=60) as client:
            response = await client.upload(readings)
            assert sorted(response.acknowledged) == sorted(r.reading_id for r in readings)
            # A replay through the same worker or another: acknowledged, not stored twice.
            again = await client.upload(readings[:1])
            assert list(again.acknowledged) == [readings[0].reading_id]
        return {r.reading_id for r in readings}

    ids: set[str] = set()
    for part in await asyncio.gather(*(one(n) for n in range(AGENTS))):
        ids |= part
    return ids


def test_workers_share_the_port_store_every_reading_once_and_stop_together(
        tmp_path: Path, pki: Pki, database_url: str) -> None:
    port = free_tcp_port()
    service = gateway_service(pki, tmp_path / "gateway", database_url, port, workers=2)
    service.start()
    try:
        pids = worker_pids(service)
        assert len(pids) == 2
        wait_listening(port)
        wait_for(lambda: both_listening(service), 60, "both workers listening")
        ids = asyncio.run(upload_from_agents(pki, port))
        repository = open_repository(database_url)
        try:
            assert sorted(repository.reading_ids()) == sorted(ids)
        finally:
            repository.close()
        stored = re.findall(r"\[worker (\d)\]: agent tenant-a/agent-\d+: 3 readings stored",
                            service.log())
        assert sorted(set(stored)) == ["0", "1"]  # the kernel spread the agents over both
        assert service.terminate() == 0
        assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status()
                       != psutil.STATUS_ZOMBIE for pid in pids)
    finally:
        service.ensure_stopped()


def test_a_dead_worker_stops_the_gateway_naming_it(tmp_path: Path, pki: Pki) -> None:
    port = free_tcp_port()
    service = gateway_service(pki, tmp_path / "gateway", f"sqlite:///{tmp_path / 'c.db'}", port,
                              workers=2)
    service.start()
    try:
        first, second = worker_pids(service)
        wait_for(lambda: both_listening(service), 60, "both workers listening")
        os.kill(second, signal.SIGKILL)
        assert service.process is not None
        assert service.process.wait(timeout=60) == 1
        assert (f"gateway worker 1 (pid {second}) exited with status -9; stopping the other "
                "workers") in service.log()
        wait_for(lambda: not psutil.pid_exists(first)
                 or psutil.Process(first).status() == psutil.STATUS_ZOMBIE, 30,
                 "the other worker to stop")
    finally:
        service.ensure_stopped()


@pytest.mark.parametrize(("gateway", "message"), [
    ({"workers": 0}, "gateway.workers must be 1 or more, not 0"),
    ({"workers": 2, "listen": "127.0.0.1:0"},
     "gateway.workers is 2 but gateway.listen '127.0.0.1:0' picks a free port, a different "
     "one for each worker: give the port they are to share"),
])
def test_workers_the_ports_cannot_serve_are_a_configuration_error(
        tmp_path: Path, pki: Pki, gateway: dict[str, object], message: str) -> None:
    config = tmp_path / "cloud.yaml"
    config.write_text(yaml.safe_dump({
        "gateway": {"listen": "127.0.0.1:8443",
                    "tls": {"cert_file": str(pki.server_cert), "key_file": str(pki.server_key),
                            "client_ca_file": str(pki.ca_file)}, **gateway},
        "store": {"database": f"sqlite:///{tmp_path / 'c.db'}"}}))
    done = subprocess.run([sys.executable, "-m", "kdfm_cloud.cli", "serve", "--config",
                           str(config)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == f"kdfm-cloud serve: {message}"
