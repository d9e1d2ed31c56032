"""`kdfm-agent run --config FILE`: run the agent until SIGTERM (the service's main command).

Exit status: 0 after a clean stop, 2 when the configuration or the identity is unusable.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from kdfm_agent.errors import AgentError
from kdfm_agent.runner import Runner, resolve_uplink
from kdfm_agent.settings import AgentSettings, load_settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("run", help="read printers, spool, upload and poll the cloud")
    parser.add_argument("--config", type=Path, required=True, help="YAML configuration file")
    parser.add_argument("--ready-file", type=Path,
                        help="file to write once the agent runs (service managers wait for it)")
    parser.add_argument("--log-level", default="INFO",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.set_defaults(func=run)


async def _main(settings: AgentSettings, ready_file: Path | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    def ready() -> None:
        if ready_file is not None:
            ready_file.write_text(f"{os.getpid()}\n")

    await Runner(settings, resolve_uplink(settings)).run(stop, ready=ready)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(args.config)
        asyncio.run(_main(settings, args.ready_file))
    except AgentError as err:
        print(f"kdfm-agent run: {err}", file=sys.stderr)
        return 2
    finally:
        if args.ready_file is not None:
            args.ready_file.unlink(missing_ok=True)
    return 0
