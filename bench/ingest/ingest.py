"""Ingest benchmark: how much slower is a reading through the gateway than a raw INSERT?

Three paths store the same readings into the same database (each under its own tenant):
  gateway     agents' path: many agents, each on a connection of its own (GatewayClient ->
              mutual TLS gRPC) -> `kdfm-cloud serve` (real processes: `--workers`, default
              one per CPU, sharing the port) -> repository -> database
  repository  the same repository call in this process, without gRPC/TLS
  raw         the same rows, made beforehand, with SQLAlchemy Core executemany (the store's
              technique for these tables): per batch one transaction, one multi-row INSERT ..
              RETURNING of the readings, one executemany per part table; the devices exist
              already (written outside the timing). One writer process by default: SQLite
              writes one transaction at a time, and `--raw-writers 2` was no faster.
Prints readings/s and CPU per reading of each path, and the ratios to raw, per round and over all
rounds. A warm-up round is not counted; the rounds alternate the order of the paths so that the
load of a shared machine falls on all alike. Absolute numbers are noise on a shared machine; the
ratios, measured in the same run, are the result.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import queue
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import sqlalchemy as sa
import yaml
from kdfm_agent.uplink.grpc import ClientTls, GatewayClient
from kdfm_cloud.pki import CertificateAuthority
from kdfm_cloud.store import AgentKey, SqlRepository, open_repository, sqlite_url, tables
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


def opt(message: Any, name: str) -> Any:
    return getattr(message, name) if message.HasField(name) else None


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


@dataclass
class Gateway:
    """A running `kdfm-cloud serve` process and what an agent needs to reach it."""

    process: subprocess.Popen[bytes]
    port: int
    ca: CertificateAuthority

    @property
    def cpu(self) -> float:
        """CPU seconds of the gateway: the process and its workers (gateway.workers)."""
        process = psutil.Process(self.process.pid)
        return sum(cpu_of(p) for p in [process, *process.children(recursive=True)])


@contextlib.contextmanager
def running_gateway(work: Path, database: str, batch: int, workers: int) -> Iterator[Gateway]:
    ca = CertificateAuthority.create()
    cert, key = ca.issue_server().write(work, "gateway")
    (work / "ca.crt").write_bytes(ca.cert_pem)
    port = free_port()
    config = work / "cloud.yaml"
    config.write_text(yaml.safe_dump({
        "gateway": {"listen": f"127.0.0.1:{port}", "max_readings_per_upload": max(500, batch),
                    "workers": workers,
                    "tls": {"cert_file": str(cert), "key_file": str(key),
                            "client_ca_file": str(work / "ca.crt")}},
        "store": {"database": database}}))
    with (work / "gateway.log").open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "kdfm_cloud.cli", "serve", "--config",
                                    str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_listening(port, process)
        yield Gateway(process, port, ca)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def bench_gateway(gateway: Gateway, tenant: str, readings: list[pb.Reading], batch: int,
                  agents: int, concurrency: int) -> tuple[float, float, float]:
    """(seconds, gateway CPU s, client CPU s) of `agents` agents uploading `readings`.

    Each agent has a connection (and certificate) of its own, as on a real fleet, and keeps
    `concurrency` uploads in flight; they take the batches from one queue.
    """
    keys = [AgentKey(tenant, f"agent-{n}") for n in range(1, agents + 1)]
    tls = {}
    for agent in keys:
        issued = gateway.ca.issue_agent(agent)
        tls[agent] = ClientTls(gateway.ca.cert_pem, issued.cert_pem, issued.key_pem)
    timing: dict[str, float] = {}

    async def upload_all() -> None:
        async with contextlib.AsyncExitStack() as stack:
            clients = [await stack.enter_async_context(GatewayClient(
                f"127.0.0.1:{gateway.port}", agent.tenant, agent.agent_id, tls[agent],
                server_name="localhost", timeout_seconds=120, max_message_bytes=64 << 20))
                for agent in keys]
            # Connections and TLS handshakes outside the timing.
            await asyncio.gather(*(client.poll() for client in clients))
            pending: asyncio.Queue[list[pb.Reading]] = asyncio.Queue()
            for chunk in batches(readings, batch):
                pending.put_nowait(chunk)

            async def worker(client: GatewayClient) -> None:
                while not pending.empty():
                    chunk = pending.get_nowait()
                    response = await client.upload(chunk)
                    assert len(response.acknowledged) == len(chunk), response.rejected

            timing.update(server=gateway.cpu, client=time.process_time(),
                          started=time.perf_counter())
            await asyncio.gather(*(worker(client) for client in clients
                                   for _ in range(concurrency)))
            timing.update(elapsed=time.perf_counter() - timing["started"],
                          server=gateway.cpu - timing["server"],
                          client=time.process_time() - timing["client"])

    asyncio.run(upload_all())
    return timing["elapsed"], timing["server"], timing["client"]


def bench_repository(repository: SqlRepository, tenant: str, readings: list[pb.Reading],
                     batch: int) -> tuple[float, float]:
    agent = AgentKey(tenant, "agent-1")
    cpu, t0 = time.process_time(), time.perf_counter()
    for chunk in batches(readings, batch):
        repository.store_readings(agent, chunk, datetime.now(UTC))
    return time.perf_counter() - t0, time.process_time() - cpu


def bench_raw(engine: sa.Engine, tenant: str, readings: list[pb.Reading], batch: int,
              start: Callable[[], object]) -> tuple[float, float, float]:
    """(start, end, CPU s) of executemany of the same rows, made beforehand.

    One device row per serial, also written beforehand. `start` is called right before the
    timing begins (the writers' barrier).
    """
    now = datetime.now(UTC)
    with engine.begin() as conn:
        serials = sorted({r.identity.serial_number for r in readings})
        conn.execute(tables.devices.insert(), [
            {"tenant": tenant, "device_key": f"serial:{s}", "serial_number": s,
             "agent_id": "agent-1", "target": "x", "first_seen": now, "last_seen": now}
            for s in serials])
        device_ids = dict(conn.execute(sa.select(tables.devices.c.serial_number,
                                                 tables.devices.c.id)
                                       .where(tables.devices.c.tenant == tenant)).all())
    # The values the store writes (NULL for what the agent did not report), made beforehand.
    prepared = []
    for r in readings:
        prepared.append((
            {"tenant": tenant, "reading_id": r.reading_id, "agent_id": "agent-1",
             "device_id": device_ids[r.identity.serial_number],
             "collected_at": r.collected_at.ToDatetime(tzinfo=UTC), "received_at": now,
             "reading_pb": r.SerializeToString(deterministic=True)},
            [{"kind": kind, "idx": s.index, "state": supply_state_name(s.state),
              "cartridge_serial": opt(s, "serial_number"),
              **{name: opt(s, name) for name in ("description", "type", "colorant", "unit",
                                                 "percent", "raw_level", "raw_max_capacity",
                                                 "part_number", "vendor_state")}}
             for kind, items in (("supply", r.supplies), ("tray", r.trays)) for s in items],
            [{"name": c.name, "value": c.value, "unit": c.unit, "source": c.source}
             for c in r.counters],
            [{"idx": a.index, "severity": a.severity, "code": a.code,
              "alert_group": opt(a, "group"), "description": opt(a, "description")}
             for a in r.alerts],
        ))
    insert_readings = tables.readings.insert().returning(tables.readings.c.reading_id,
                                                         tables.readings.c.id)
    start()
    cpu, t0 = time.process_time(), time.perf_counter()
    for chunk in batches(prepared, batch):
        with engine.begin() as conn:
            # RETURNING the key with the id, as the store does: one multi-row INSERT.
            # (sort_by_parameter_order=True makes SQLAlchemy insert row by row on SQLite.)
            ids: dict[str, int] = dict(
                conn.execute(insert_readings, [row for row, *_ in chunk]).all())
            supplies: list[dict[str, Any]] = []
            counters: list[dict[str, Any]] = []
            alerts: list[dict[str, Any]] = []
            for row, s, c, a in chunk:
                row_id = ids[row["reading_id"]]
                # In place, as the store does: no copy of the prepared rows.
                for parts, into in ((s, supplies), (c, counters), (a, alerts)):
                    for x in parts:
                        x["reading"] = row_id
                    into.extend(parts)
            conn.execute(tables.supplies.insert(), supplies)
            conn.execute(tables.counters.insert(), counters)
            conn.execute(tables.alerts.insert(), alerts)
    return t0, time.perf_counter(), time.process_time() - cpu


def _raw_writer(database: str, tasks: Any, results: Any, barrier: Any) -> None:
    """A raw writer process: runs bench_raw for each (tenant, readings, batch) it is given."""
    repository = open_repository(database, migrate=False)
    try:
        while (task := tasks.get()) is not None:
            tenant, payload, batch = task
            readings = [pb.Reading.FromString(data) for data in payload]
            results.put(bench_raw(repository.engine, tenant, readings, batch, barrier.wait))
    finally:
        repository.close()


class RawWriters:
    """Processes inserting raw rows at the same time (`--raw-writers`, one by default).

    SQLite writes one transaction at a time, so a second raw writer can only wait for the
    lock; `--raw-writers N` measures that instead of assuming it. Each writer stores its share
    of the batches under a tenant of its own; all start their timing together (a barrier), and
    the path's time runs from the first start to the last end.
    """

    def __init__(self, database: str, count: int) -> None:
        context = multiprocessing.get_context("spawn")  # no fork of a process running grpc
        self._results = context.Queue()
        # Kept here: the children open it by name after the start, and it ends with its object.
        self._barrier = context.Barrier(count)
        self._tasks = [context.Queue() for _ in range(count)]
        self._processes = [context.Process(target=_raw_writer, daemon=True,
                                           args=(database, tasks, self._results, self._barrier))
                           for tasks in self._tasks]
        for process in self._processes:
            process.start()

    def run(self, tenant: str, readings: list[pb.Reading], batch: int) -> tuple[float, float]:
        """(seconds, CPU s) of the writers storing `readings` together."""
        parts = batches(batches(readings, batch), -(-len(readings) // batch // len(self._tasks)))
        if len(parts) != len(self._tasks):
            raise SystemExit(f"{len(readings)} readings in batches of {batch} cannot be shared "
                             f"by {len(self._tasks)} raw writers")
        for number, (tasks, part) in enumerate(zip(self._tasks, parts, strict=True)):
            tasks.put((f"{tenant}-w{number}",
                       [r.SerializeToString() for chunk in part for r in chunk], batch))
        done = []
        while len(done) < len(self._tasks):
            try:
                done.append(self._results.get(timeout=1))
            except queue.Empty:
                if not all(process.is_alive() for process in self._processes):
                    raise SystemExit("a raw writer process died (its error is above)") from None
        return (max(end for _, end, _ in done) - min(start for start, _, _ in done),
                sum(cpu for *_, cpu in done))

    def close(self) -> None:
        for tasks in self._tasks:
            tasks.put(None)
        for process in self._processes:
            process.join(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=2000, help="readings per path and round")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--agents", type=int, default=8,
                        help="agents uploading at once, each on a connection of its own "
                             "(default 8)")
    parser.add_argument("--concurrency", type=int, default=1,
                        help="uploads each agent keeps in flight (default 1)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="gateway.workers (default: one per CPU)")
    parser.add_argument("--raw-writers", type=int, default=1,
                        help="processes inserting the raw rows at the same time (default 1: "
                             "SQLite writes one transaction at a time, and two writers were "
                             "no faster)")
    parser.add_argument("--rounds", type=int, default=5,
                        help="rounds of all three paths, in alternating order, after one "
                             "uncounted warm-up round (default 5)")
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
    paths = ("gateway", "repository", "raw")
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kdfm-bench-ingest-")))
        database = args.database or sqlite_url(work / "bench.db")
        open_repository(database).close()  # migrate once, outside every timing
        base = [make_reading(i) for i in range(args.readings)]
        n = len(base)
        kind = "postgresql" if "://" not in database else database.split(":", 1)[0]
        print(f"ingest of {n} readings per path and round ({args.batch}/batch, "
              f"{args.agents} agents x {args.concurrency} uploads in flight through a gateway "
              f"of {args.workers} worker(s); {args.raw_writers} raw writer(s)) into {kind}, "
              f"cpus={os.cpu_count()}, {args.rounds} rounds, load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"{'round':>5} {'order':<26} {'gateway/s':>10} {'repo/s':>8} {'raw/s':>8} "
              f"{'gw/raw':>7} {'repo/raw':>8} {'gw CPU/raw CPU':>15}")
        results: list[dict[str, tuple[float, ...]]] = []
        # One engine per path for the whole run, so that neither compiles its statements in
        # a timed round.
        repository = open_repository(database)
        stack.callback(repository.close)
        raw = RawWriters(database, args.raw_writers)
        stack.callback(raw.close)
        gateway = stack.enter_context(running_gateway(work, database, args.batch,
                                                      args.workers))
        for number in range(-1, args.rounds):
            # Round 0 warms up and is not counted: the gateway is a long-running process,
            # and its first uploads compile statements and fill caches. Alternating order:
            # whatever the machine or the database files do over time (other load, WAL
            # growth, page cache) falls on every path alike.
            order = paths if number % 2 else paths[::-1]
            result: dict[str, tuple[float, ...]] = {}
            for path in order:
                tenant, readings = f"bench-{path}-{number + 1}", fresh(base)
                if path == "gateway":
                    result[path] = bench_gateway(gateway, tenant, readings, args.batch,
                                                 args.agents, args.concurrency)
                elif path == "repository":
                    result[path] = bench_repository(repository, tenant, readings, args.batch)
                else:
                    result[path] = raw.run(tenant, readings, args.batch)
            if number >= 0:
                results.append(result)
            g, r, w = result["gateway"], result["repository"], result["raw"]
            print(f"{number + 1:>5} {' '.join(order):<26} {n / g[0]:10.0f} {n / r[0]:8.0f} "
                  f"{n / w[0]:8.0f} {w[0] / g[0]:6.2f}x {w[0] / r[0]:7.2f}x "
                  f"{g[1] / w[1]:14.2f}x", flush=True)
    total = {path: [sum(x[path][i] for x in results) for i in range(2)] for path in paths}
    client = sum(x["gateway"][2] for x in results)
    stored = n * len(results)
    print(f"\nall rounds: {'path':12} {'readings/s':>11} {'CPU ms/reading':>15}")
    for path in paths:
        extra = f"   (+ client {1000 * client / stored:.3f})" if path == "gateway" else ""
        print(f"{'':12}{path:12} {stored / total[path][0]:11.0f} "
              f"{1000 * total[path][1] / stored:15.3f}{extra}")
    ratios = sorted(x["raw"][0] / x["gateway"][0] for x in results)
    print(f"ratio gateway/raw: throughput {total['raw'][0] / total['gateway'][0]:.2f}x "
          f"(rounds: median {statistics.median(ratios):.2f}x, lowest {ratios[0]:.2f}x), "
          f"CPU per reading {total['gateway'][1] / total['raw'][1]:.2f}x")
    print(f"ratio repository/raw: throughput {total['raw'][0] / total['repository'][0]:.2f}x, "
          f"CPU per reading {total['repository'][1] / total['raw'][1]:.2f}x")


if __name__ == "__main__":
    main()
