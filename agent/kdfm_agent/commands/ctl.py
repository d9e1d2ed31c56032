"""`kdfm-agent ctl start|stop|restart|status --config FILE [--state-dir DIR]`: the agent's own
service manager for hosts without systemd.

The pid file and the log file live in the state directory (`--state-dir`, else `state_dir` of
the configuration file). Exit status, as LSB init scripts have it: `status` 0 running, 1 dead
with a pid file left, 3 stopped, 4 unknown (unreadable configuration); `start`, `stop` and
`restart` 0 on success, 1 on failure, 2 for an unreadable configuration.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from kdfm_agent import daemon
from kdfm_agent.errors import AgentError
from kdfm_agent.settings import load_settings

_STATUS_UNKNOWN = 4


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("ctl", help="start, stop or query the agent in the background")
    parser.add_argument("action", choices=["start", "stop", "restart", "status"])
    parser.add_argument("--config", type=Path, required=True, help="YAML configuration file")
    parser.add_argument("--state-dir", type=Path, default=None,
                        help="directory of the pid and log file; default: state_dir of the config")
    parser.add_argument("--stop-timeout", type=float, default=30.0, metavar="S",
                        help="seconds between SIGTERM and SIGKILL (30)")
    parser.add_argument("--start-timeout", type=float, default=60.0, metavar="S",
                        help="seconds the agent has to get ready before start fails (60)")
    parser.set_defaults(func=run)


def _settings(args: argparse.Namespace) -> daemon.DaemonSettings:
    config = args.config.absolute()
    # Stopping must work with a broken configuration too, so it is read only when needed.
    state_dir = args.state_dir or Path(load_settings(config).state_dir)
    return daemon.DaemonSettings(config=config, state_dir=state_dir.absolute(),
                                 start_timeout_seconds=args.start_timeout,
                                 stop_timeout_seconds=args.stop_timeout)


def run(args: argparse.Namespace) -> int:
    prog = f"kdfm-agent ctl {args.action}"
    try:
        settings = _settings(args)
    except AgentError as err:
        print(f"{prog}: {err}", file=sys.stderr)
        return _STATUS_UNKNOWN if args.action == "status" else 2
    if args.action == "status":
        state, pid = daemon.health(settings)
        where = f" (pid {pid})" if pid is not None else ""
        print(f"kdfm-agent: {state.name.lower()}{where}; pid file {settings.pid_file}")
        return int(state)
    try:
        if args.action in ("stop", "restart"):
            stopped = daemon.stop(settings)
            if args.action == "stop":
                print("kdfm-agent: stopped" if stopped else "kdfm-agent: was not running")
                return 0
        started, pid = daemon.start(settings)
    except (daemon.DaemonError, OSError) as err:
        print(f"{prog}: {err}", file=sys.stderr)
        return 1
    print(f"kdfm-agent: started (pid {pid}); log {settings.log_file}" if started
          else f"kdfm-agent: already running (pid {pid})")
    return 0
