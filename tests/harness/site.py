"""`python -m harness.site up|down --state-dir DIR [--port N]`: background snmpsim for `make demo`.

`up` starts snmpsim in its own session, waits until it answers, and writes DIR/snmpsim.pid,
DIR/snmpsim.log and DIR/site.json ({"host", "port", "communities", "data_dir"}); `down` stops it.
Run with `PYTHONPATH=tests` (pytest sets that itself) from the repository root.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from kdfm_cloud.devstack.errors import DevstackError
from kdfm_cloud.devstack.processes import stop_pid_file, write_pid_file

from harness.snmpsim import default_recordings_dir, start_site

PID_FILE = "snmpsim.pid"
SITE_FILE = "site.json"


def up(state_dir: Path, *, port: int, data_dir: Path) -> int:
    """Start the site in the background unless one is already recorded in `state_dir`."""
    state_dir.mkdir(parents=True, exist_ok=True)
    pid_file = state_dir / PID_FILE
    if pid_file.exists():
        print(f"a site is already running (pid file {pid_file}); run `down` first",
              file=sys.stderr)
        return 1
    process, site = start_site(data_dir, work_dir=state_dir, port=port)
    # The child runs in its own session, so it outlives this command; the pid file is the handle.
    write_pid_file(pid_file, process.pid)
    info = {"host": site.host, "port": site.port, "communities": list(site.communities),
            "data_dir": str(site.data_dir)}
    (state_dir / SITE_FILE).write_text(json.dumps(info, indent=2) + "\n")
    print(f"snmpsim serving {len(site.communities)} recordings on {site.endpoint()}")
    return 0


def down(state_dir: Path) -> int:
    """Stop the site recorded in `state_dir`; succeeds when none is running."""
    stopped = stop_pid_file(state_dir / PID_FILE)
    (state_dir / SITE_FILE).unlink(missing_ok=True)
    print("snmpsim stopped" if stopped else "no snmpsim was running")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.site")
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("--state-dir", type=Path, required=True,
                        help="where the pid file, log, index cache and site.json live")
    parser.add_argument("--port", type=int, default=0, help="UDP port; 0 picks a free one")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="recordings directory; default $KDFM_RECORDINGS")
    args = parser.parse_args(argv)
    try:
        if args.action == "up":
            return up(args.state_dir, port=args.port,
                      data_dir=args.data_dir or default_recordings_dir())
        return down(args.state_dir)
    except (DevstackError, OSError) as err:
        print(f"harness.site {args.action} failed: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
