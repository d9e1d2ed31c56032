"""`kdfm-agent scan TARGET-OR-RANGE...`: find the printers among addresses, CIDR blocks, ranges.

Exit status: 0 when the scan ran (whatever it found), 2 for invalid arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from typing import Any

from kdfm_agent import credentials as creds
from kdfm_agent.discovery import ScanResult, expand, scan
from kdfm_agent.errors import ConfigError
from kdfm_agent.session_args import add_session_arguments, session_settings
from kdfm_agent.snmp.sweep import SweepSettings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("scan", help="find the printers in address ranges")
    parser.add_argument("specs", nargs="+", metavar="TARGET-OR-RANGE",
                        help="IP, host name, CIDR block or range a.b.c.d-e.f.g.h")  # fmt: skip
    parser.add_argument("--exclude", action="append", default=[], metavar="SPEC",
                        help="addresses never to probe (same forms); repeatable")  # fmt: skip
    creds.add_arguments(parser)
    add_session_arguments(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object per address")
    parser.add_argument("--probes-per-second", type=float, metavar="RATE",
                        default=SweepSettings().probes_per_second,
                        help="most sweep datagrams sent per second (default %(default)g): "
                        "1024 addresses take 1024/RATE s to probe once")  # fmt: skip
    parser.set_defaults(func=run, timeout=2.0, retries=1, concurrency=64)


def _progress(done: int, total: int) -> None:
    sys.stderr.write(f"\rscanned {done}/{total}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def run(args: argparse.Namespace) -> int:
    try:
        credential_list = creds.from_arguments(args)
        settings = session_settings(args)
        sweep_settings = SweepSettings(
            timeout=settings.timeout,
            retries=settings.retries,
            probes_per_second=args.probes_per_second,
        )
        targets = asyncio.run(expand(args.specs, args.exclude, args.port))
    except ConfigError as err:
        print(f"kdfm-agent scan: {err}", file=sys.stderr)
        return 2
    progress = _progress if sys.stderr.isatty() else None
    results = asyncio.run(
        scan(
            targets,
            credential_list,
            settings,
            concurrency=args.concurrency,
            progress=progress,
            sweep_settings=sweep_settings,
        )
    )
    for result in results:
        print(json.dumps(dataclasses.asdict(result)) if args.json else _line(result))
    return 0


def _line(result: ScanResult) -> str:
    name = f" ({result.hostname})" if result.hostname else ""
    if not result.answered:
        return f"{result.address}:{result.port}{name}  no answer"
    kind = "printer" if result.printer else "not a printer"
    return (
        f"{result.address}:{result.port}{name}  {kind} [{result.reason}]"
        f"  profile={result.profile or '-'}  credential={result.credential}"
        f"  {result.sys_descr or ''}"
    )
