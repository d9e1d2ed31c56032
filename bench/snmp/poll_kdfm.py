#!/usr/bin/env python3
"""KDFM's complete device reading as a poller for /work/shared/snmp-bench/run.sh (EXTRA_POLLER).

Each device gets what `kdfm-agent read` does for it: identity, status, counters, supplies, trays
and alerts through `read_one` (profile match, context fallback, retry loop, send guard), with the
peers' timeout (2 s) and retries (1). A device counts as `ok` when its reading has no error and
reports supplies; every other device is `failed`.

Usage: poll_kdfm.py ADDRFILE CONC [gufo|pysnmp] [--profile FILE]
CONC is the ceiling of devices in flight; the agent's adaptive limiter picks the working level.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import time

from kdfm_agent.commands.read import read_one
from kdfm_agent.credentials import Community
from kdfm_agent.snmp import Backend, SessionSettings
from kdfm_agent.snmp.pacing import AdaptiveLimiter
from kdfm_agent.targets import SendGuard, Target


async def main(addresses: list[str], ceiling: int, backend: Backend) -> None:
    settings = SessionSettings(timeout=2.0, retries=1, backend=backend)
    targets = [Target(a, 161, a) for a in addresses]
    guard = SendGuard.for_targets(targets)
    limiter = AdaptiveLimiter(ceiling=ceiling)
    credentials = [Community("public")]
    stats = {"ok": 0, "failed": 0, "supplies": 0}
    started = time.monotonic()

    async def one(target: Target) -> None:
        async with limiter.slot():
            reading = await read_one(target, credentials, settings, guard)
        good = not reading.errors and bool(reading.supplies)
        stats["ok" if good else "failed"] += 1
        stats["supplies"] += len(reading.supplies)

    await asyncio.gather(*(one(t) for t in targets))
    print(
        f"kdfm-{backend.value} devices={len(targets)} ok={stats['ok']} failed={stats['failed']} "
        f"supplies={stats['supplies']} peak_concurrency={limiter.peak} "
        f"final_limit={int(limiter.limit)} rtt_ms={(limiter.round_trip or 0) * 1000:.1f} "
        f"answered_requests={limiter.answered} timeouts={limiter.timeouts} "
        f"wall={time.monotonic() - started:.2f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("addrfile")
    parser.add_argument("conc", type=int)
    parser.add_argument("backend", nargs="?", default="gufo", choices=[b.value for b in Backend])
    parser.add_argument("--profile", metavar="FILE", help="write cProfile stats here")
    args = parser.parse_args()
    with open(args.addrfile) as handle:
        addresses = [line.split()[0] for line in handle if line.strip()]
    coroutine = main(addresses, args.conc, Backend(args.backend))
    if args.profile:
        cProfile.run("asyncio.run(coroutine)", args.profile)
    else:
        asyncio.run(coroutine)
