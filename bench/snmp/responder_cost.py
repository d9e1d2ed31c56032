#!/usr/bin/env python3
"""snmpd's CPU per device for one kind of request, at a given number of devices in flight.

Shows what a poller's pacing costs the devices: net-snmp's snmpd serving N addresses wakes up
once per datagram when few requests are in flight, and each wake-up scans all N sockets.

Usage: responder_cost.py ADDRFILE SNMPD_PID KIND CONC
KIND: sys (GET of the 5 system scalars), if (one GETBULK of ifPhysAddress, 8 rows) or
      walk:OID:REPS (a whole GETBULK walk of OID, REPS rows a request).
Start snmpd as /work/shared/snmp-bench/run.sh does (one process, every address in ADDRFILE).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from gufo.snmp.aio import SnmpSession

SYSTEM = [f"1.3.6.1.2.1.1.{n}.0" for n in (1, 2, 4, 5, 6)]


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` (CLK_TCK = 100)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100


async def one(address: str, kind: str) -> None:
    session = SnmpSession(addr=address, community="public", timeout=5, max_repetitions=25)
    if kind == "sys":
        await session.get_many(SYSTEM)
    elif kind == "if":
        async for _ in session.getbulk("1.3.6.1.2.1.2.2.1.6", max_repetitions=8):
            break
    else:
        _, oid, repetitions = kind.split(":")
        async for _ in session.getbulk(oid, max_repetitions=int(repetitions)):
            pass


async def main(addresses: list[str], pid: int, kind: str, conc: int) -> None:
    semaphore = asyncio.Semaphore(conc)

    async def limited(address: str) -> None:
        async with semaphore:
            await one(address, kind)

    before = cpu_seconds(pid)
    await asyncio.gather(*(limited(a) for a in addresses))
    spent = cpu_seconds(pid) - before
    print(f"{kind:28} conc={conc:3} devices={len(addresses)} "
          f"snmpd_cpu_ms_per_device={spent * 1000 / len(addresses):.3f}")  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    lines = Path(sys.argv[1]).read_text().split()
    asyncio.run(main(lines, int(sys.argv[2]), sys.argv[3], int(sys.argv[4])))
