"""Command line of kdfm-agent: one module per sub-command under kdfm_agent.commands."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from kdfm_agent import __version__, commands


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser with every sub-command, or with `only` that one (its module name)."""
    parser = argparse.ArgumentParser(prog="kdfm-agent")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if only is not None and info.name != only:
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    # Import only the chosen command: `scan` need not load grpc, cryptography and the runner,
    # and every agent start (service, Ansible health check) is faster for it.
    names = {m.name for m in pkgutil.iter_modules(commands.__path__)}
    first = arguments[0].replace("-", "_") if arguments else None
    parser = build_parser(first if first in names else None)
    args = parser.parse_args(arguments)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
