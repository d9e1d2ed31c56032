"""Command-line options of an SNMP session, shared by `read` and `scan`.

Kept apart from `commands.read` so that `scan` does not import the reading code (collect,
profiles): its start-up counts in every discovery.
"""

from __future__ import annotations

import argparse

from kdfm_agent.errors import ConfigError
from kdfm_agent.snmp import Backend, SessionSettings
from kdfm_agent.targets import DEFAULT_PORT


def add_session_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shaping each SNMP session (shared with `scan`)."""
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="default UDP port (161)")
    parser.add_argument("--timeout", type=float, default=5.0, metavar="S",
                        help="seconds to wait for each reply (5)")  # fmt: skip
    parser.add_argument("--retries", type=int, default=2, metavar="N",
                        help="resends after a timeout (2)")  # fmt: skip
    parser.add_argument("--concurrency", type=int, default=16, metavar="N",
                        help="devices read at the same time (16)")  # fmt: skip
    parser.add_argument("--backend", choices=[b.value for b in Backend], default="gufo",
                        help="SNMP library (pysnmp is used anyway for v3 contexts)")  # fmt: skip


def session_settings(args: argparse.Namespace) -> SessionSettings:
    """`SessionSettings` from the parsed options."""
    if args.concurrency < 1:
        raise ConfigError(f"--concurrency must be at least 1, got {args.concurrency}")
    return SessionSettings(
        timeout=args.timeout, retries=args.retries, backend=Backend(args.backend)
    )
