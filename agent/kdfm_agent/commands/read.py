"""`kdfm-agent read TARGET...`: read printers once and print what they report.

Exit status: 0 when every device was read without error, 1 when any device reported an error,
2 for invalid arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from kdfm_agent import credentials as creds
from kdfm_agent import model
from kdfm_agent.errors import ConfigError
from kdfm_agent.read_target import failed_reading, read_target
from kdfm_agent.report import reading_to_json, reading_to_text
from kdfm_agent.session_args import add_session_arguments, session_settings
from kdfm_agent.snmp import SessionSettings
from kdfm_agent.targets import (
    SendGuard,
    Target,
    parse_target,
    read_targets_file,
    resolve,
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("read", help="read printers once and print the readings")
    parser.add_argument("targets", nargs="*", metavar="TARGET", help="host or host:port")
    parser.add_argument("--targets-file", metavar="FILE", help="more targets, one a line")
    creds.add_arguments(parser)
    add_session_arguments(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object per device per line")
    parser.add_argument("--summary", action="store_true",
                        help="end with `devices=N ok=K errors=E`")  # fmt: skip
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        texts = list(args.targets)
        if args.targets_file:
            texts += read_targets_file(args.targets_file)
        if not texts:
            raise ConfigError("no targets: give TARGET arguments or --targets-file")
        targets = [parse_target(t, args.port) for t in texts]
        credential_list = creds.from_arguments(args)
        settings = session_settings(args)
    except ConfigError as err:
        print(f"kdfm-agent read: {err}", file=sys.stderr)
        return 2
    return asyncio.run(_read_all(targets, credential_list, settings, args))


async def _read_all(
    targets: list[Target],
    credential_list: list[creds.Credential],
    settings: SessionSettings,
    args: argparse.Namespace,
) -> int:
    resolved: list[Target] = []
    failures: list[model.Reading] = []
    for target in targets:
        try:
            resolved.append(await resolve(target))
        except ConfigError as err:
            failures.append(failed_reading(target, "resolve", str(err)))
    guard = SendGuard.for_targets(resolved)
    semaphore = asyncio.Semaphore(args.concurrency)

    async def one(target: Target) -> model.Reading:
        async with semaphore:
            return await read_one(target, credential_list, settings, guard)

    counts = {"devices": 0, "ok": 0, "errors": 0}

    def emit(reading: model.Reading) -> None:
        counts["devices"] += 1
        counts["errors" if reading.errors else "ok"] += 1
        if args.json:
            print(json.dumps(reading_to_json(reading), sort_keys=False), flush=True)
        else:
            print(reading_to_text(reading), flush=True)

    for reading in failures:
        emit(reading)
    for finished in asyncio.as_completed([one(t) for t in resolved]):
        emit(await finished)
    if args.summary:
        print(f"devices={counts['devices']} ok={counts['ok']} errors={counts['errors']}")
    return 1 if counts["errors"] else 0


async def read_one(
    target: Target,
    credential_list: list[creds.Credential],
    settings: SessionSettings,
    guard: SendGuard | None,
) -> model.Reading:
    """One device, trying the credentials in order until one answers."""
    return (await read_target(target, credential_list, settings, guard)).reading
