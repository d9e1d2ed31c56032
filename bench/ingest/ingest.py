"""Ingest benchmark: how much slower is a reading through the gateway than a raw INSERT?

Three paths store the same readings into the same database (each under its own tenant):
  gateway     agents' path: GatewayClient -> mutual TLS gRPC -> `kdfm-cloud serve` (a real
              process) -> repository -> database
  repository  the same repository call in this process, without gRPC/TLS
  raw         the same rows (serialized beforehand) with executemany, one transaction per batch
              (the rows the store writes: since migration 0003 no JSON copy of the reading)
Prints readings/s and CPU per reading of each path, and the ratios to raw. Absolute numbers are
noise on a shared machine; the ratios, measured in the same run, are the result.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import sqlalchemy as sa
import yaml
from kdfm_agent.uplink.grpc import ClientTls, GatewayClient
from kdfm_cloud.pki import CertificateAuthority
from kdfm_cloud.store import AgentKey, open_repository, sqlite_url, tables
from kdfm_cloud.store.sql import supply_state_name
from kdfm_proto.v1 import reading_pb2 as pb


def make_reading(i: int) -> pb.Reading:
    reading = pb.Reading(reading_id=uuid.uuid4().hex, target=f"10.0.{i // 250}.{i % 250}",
                         address=f"10.0.{i // 250}.{i % 250}", profile="generic")
    reading.collected_at.FromDatetime(datetime.now(UTC))
    reading.identity.serial_number = f"SN{i % 500:05d}"
    reading.identity.vendor, reading.identity.model = "Brother", "MFC-L2710DW"
    for n, colour in enumerate(("black", "cyan", "magenta", "yellow"), start=1):
        reading.supplies.add(index=n, description=f"{colour} toner", colorant=colour,
                             state=pb.SUPPLY_STATE_OK, percent=50.0, raw_level=50,
                             raw_max_capacity=100, unit="percent")
    reading.trays.add(index=1, description="Tray 1", state=pb.SUPPLY_STATE_UNKNOWN, raw_level=-2)
    for name in ("total", "mono", "colour", "print", "copy", "scan"):
        reading.counters.add(name=name, value=10000 + i, unit="impressions", source="1.3.6.1")
    reading.alerts.add(index=1, severity="warning", code="tonerLow", group="markerSupplies")
    return reading


def fresh(readings: list[pb.Reading]) -> list[pb.Reading]:
    """Copies with new ids (each path stores rows of its own)."""
    out = []
    for r in readings:
        c = pb.Reading()
        c.CopyFrom(r)
        c.reading_id = uuid.uuid4().hex
        out.append(c)
    return out


def batches(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("gateway exited during start-up")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"gateway not listening on {port}")


def cpu_of(process: psutil.Process) -> float:
    t = process.cpu_times()
    return float(t.user + t.system)


def bench_gateway(work: Path, database: str, readings: list[pb.Reading], batch: int,
                  concurrency: int) -> tuple[float, float, float]:
    """(seconds, gateway CPU s, client CPU s)."""
    ca = CertificateAuthority.create()
    cert, key = ca.issue_server().write(work, "gateway")
    (work / "ca.crt").write_bytes(ca.cert_pem)
    agent = AgentKey("bench-gateway", "agent-1")
    issued = ca.issue_agent(agent)
    port = free_port()
    config = work / "cloud.yaml"
    config.write_text(yaml.safe_dump({
        "gateway": {"listen": f"127.0.0.1:{port}", "max_readings_per_upload": max(500, batch),
                    "tls": {"cert_file": str(cert), "key_file": str(key),
                            "client_ca_file": str(work / "ca.crt")}},
        "store": {"database": database}}))
    with (work / "gateway.log").open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "kdfm_cloud.cli", "serve", "--config",
                                    str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_listening(port, process)
        server = psutil.Process(process.pid)
        tls = ClientTls(ca.cert_pem, issued.cert_pem, issued.key_pem)

        async def upload_all() -> None:
            async with GatewayClient(f"127.0.0.1:{port}", agent.tenant, agent.agent_id, tls,
                                     server_name="localhost", timeout_seconds=120,
                                     max_message_bytes=64 << 20) as client:
                await client.poll()  # connection and TLS handshake outside the timing
                queue: asyncio.Queue[list[pb.Reading]] = asyncio.Queue()
                for chunk in batches(readings, batch):
                    queue.put_nowait(chunk)

                async def worker() -> None:
                    while not queue.empty():
                        chunk = queue.get_nowait()
                        response = await client.upload(chunk)
                        assert len(response.acknowledged) == len(chunk), response.rejected

                global started, server_cpu, client_cpu  # noqa: PLW0603
                server_cpu, client_cpu = cpu_of(server), time.process_time()
                started = time.perf_counter()
                await asyncio.gather(*(worker() for _ in range(concurrency)))

        asyncio.run(upload_all())
        elapsed = time.perf_counter() - started
        return elapsed, cpu_of(server) - server_cpu, time.process_time() - client_cpu
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


started = server_cpu = client_cpu = 0.0


def bench_repository(database: str, readings: list[pb.Reading], batch: int) -> tuple[float, float]:
    repository = open_repository(database)
    agent = AgentKey("bench-repository", "agent-1")
    try:
        cpu, t0 = time.process_time(), time.perf_counter()
        for chunk in batches(readings, batch):
            repository.store_readings(agent, chunk, datetime.now(UTC))
        return time.perf_counter() - t0, time.process_time() - cpu
    finally:
        repository.close()


def bench_raw(database: str, readings: list[pb.Reading], batch: int) -> tuple[float, float]:
    """executemany of the same rows, serialized beforehand; one device row per serial."""
    repository = open_repository(database)
    engine = repository.engine
    tenant, now = "bench-raw", datetime.now(UTC)
    try:
        with engine.begin() as conn:
            serials = sorted({r.identity.serial_number for r in readings})
            conn.execute(tables.devices.insert(), [
                {"tenant": tenant, "device_key": f"serial:{s}", "serial_number": s,
                 "agent_id": "agent-1", "target": "x", "first_seen": now, "last_seen": now}
                for s in serials])
            device_ids = dict(conn.execute(sa.select(tables.devices.c.serial_number,
                                                     tables.devices.c.id)
                                           .where(tables.devices.c.tenant == tenant)).all())
        prepared = []
        for r in readings:
            prepared.append((
                {"tenant": tenant, "reading_id": r.reading_id, "agent_id": "agent-1",
                 "device_id": device_ids[r.identity.serial_number],
                 "collected_at": r.collected_at.ToDatetime(tzinfo=UTC), "received_at": now,
                 "reading_pb": r.SerializeToString()},
                [{"kind": kind, "idx": s.index, "description": s.description,
                  "colorant": s.colorant, "unit": s.unit, "state": supply_state_name(s.state),
                  "percent": s.percent if s.HasField("percent") else None,
                  "raw_level": s.raw_level, "raw_max_capacity": s.raw_max_capacity,
                  "type": None} for kind, items in (("supply", r.supplies), ("tray", r.trays))
                 for s in items],
                [{"name": c.name, "value": c.value, "unit": c.unit, "source": c.source}
                 for c in r.counters],
                [{"idx": a.index, "severity": a.severity, "code": a.code,
                  "alert_group": a.group, "description": None} for a in r.alerts],
            ))
        cpu, t0 = time.process_time(), time.perf_counter()
        for chunk in batches(prepared, batch):
            with engine.begin() as conn:
                ids = conn.execute(tables.readings.insert().returning(
                    tables.readings.c.id, sort_by_parameter_order=True),
                    [row for row, *_ in chunk]).scalars().all()
                supplies, counters, alerts = [], [], []
                for row_id, (_row, s, c, a) in zip(ids, chunk, strict=True):
                    supplies += [{**x, "reading": row_id} for x in s]
                    counters += [{**x, "reading": row_id} for x in c]
                    alerts += [{**x, "reading": row_id} for x in a]
                conn.execute(tables.supplies.insert(), supplies)
                conn.execute(tables.counters.insert(), counters)
                conn.execute(tables.alerts.insert(), alerts)
        return time.perf_counter() - t0, time.process_time() - cpu
    finally:
        repository.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=2)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--database", help="database URL (default: a fresh SQLite file)")
    where.add_argument("--postgres", action="store_true",
                       help="a throwaway PostgreSQL cluster of the test harness (tests/harness)")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        if args.postgres:
            from harness.postgres import running_cluster  # noqa: PLC0415 (PYTHONPATH=tests)

            cluster = stack.enter_context(running_cluster())
            args.database = cluster.dsn_for(cluster.create_database("kdfm_bench"))
        run(args)


def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="kdfm-bench-ingest-") as tmp:
        work = Path(tmp)
        database = args.database or sqlite_url(work / "bench.db")
        open_repository(database).close()  # migrate once, outside every timing
        base = [make_reading(i) for i in range(args.readings)]
        n = len(base)
        g_time, g_server_cpu, g_client_cpu = bench_gateway(work, database, fresh(base),
                                                           args.batch, args.concurrency)
        r_time, r_cpu = bench_repository(database, fresh(base), args.batch)
        w_time, w_cpu = bench_raw(database, fresh(base), args.batch)
    kind = "postgresql" if "://" not in database else database.split(":", 1)[0]
    print(f"ingest of {n} readings ({args.batch}/batch, {args.concurrency} concurrent uploads) "
          f"into {kind}, cpus={os.cpu_count()}")
    print(f"{'path':12} {'readings/s':>11} {'CPU ms/reading':>15}")
    print(f"{'gateway':12} {n / g_time:11.0f} {1000 * g_server_cpu / n:15.3f}"
          f"   (+ client {1000 * g_client_cpu / n:.3f})")
    print(f"{'repository':12} {n / r_time:11.0f} {1000 * r_cpu / n:15.3f}")
    print(f"{'raw insert':12} {n / w_time:11.0f} {1000 * w_cpu / n:15.3f}")
    print(f"ratio gateway/raw: throughput {w_time / g_time:.2f}x, CPU per reading "
          f"{g_server_cpu / w_cpu:.2f}x")
    print(f"ratio repository/raw: throughput {w_time / r_time:.2f}x, CPU per reading "
          f"{r_cpu / w_cpu:.2f}x")


if __name__ == "__main__":
    main()
