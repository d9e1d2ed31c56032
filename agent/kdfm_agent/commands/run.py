"""`kdfm-agent run --config FILE`: run the agent until SIGTERM (the service's main command).

Exit status: 0 after a clean stop, 2 when the configuration or the identity is unusable.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
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
    parser.add_argument("--log-level", default="INFO",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.set_defaults(func=run)


async def _main(settings: AgentSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await Runner(settings, resolve_uplink(settings)).run(stop)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(args.config)
        asyncio.run(_main(settings))
    except AgentError as err:
        print(f"kdfm-agent run: {err}", file=sys.stderr)
        return 2
    return 0
