"""`python -m harness.site up|down --state-dir DIR [--port N] [--per-address]`: background snmpsim.

`up` starts snmpsim in its own session, waits until it answers, and writes DIR/snmpsim.pid,
DIR/snmpsim.log and DIR/site.json; `down` stops it. Two shapes:

- default: every recording on one address, selected by community = file stem; site.json is
  {"host", "port", "communities", "data_dir"}.
- `--per-address`: a realistic site, one printer per loopback address answering `public`
  (harness.fleet); site.json is SnmpFleet.to_json(): {"mode": "per-address", "port",
  "community", "devices": [{"recording", "address", "port", "contexts"}], "v3_users": [...]}.
  The per-printer data dirs live in the system temp dir (never in the git tree) and `down`
  removes them. Without --data-dir and with no recordings directory (a fresh checkout without
  $KDFM_RECORDINGS), it serves the sample site instead (harness.sample_site), says so, and
  `down` removes the generated files too.

Run with `PYTHONPATH=tests` (pytest sets that itself) from the repository root.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from kdfm_cloud.devstack.errors import DevstackError
from kdfm_cloud.devstack.processes import stop_pid_file, write_pid_file

from harness.fleet import FIRST_ADDRESS, start_fleet
from harness.sample_site import write_sample_site
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


def fleet_devices_dir(state_dir: Path) -> Path:
    """Where a per-address site keeps its printer data dirs: outside any git tree, and the
    same path for the same state dir, so snmpsim's index cache (keyed by path) is reused."""
    digest = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"kdfm-fleet-{digest}"


def up_per_address(state_dir: Path, *, port: int, data_dir: Path, first_address: str) -> int:
    """Start a one-printer-per-address fleet in the background unless one is recorded."""
    state_dir.mkdir(parents=True, exist_ok=True)
    pid_file = state_dir / PID_FILE
    if pid_file.exists():
        print(f"a site is already running (pid file {pid_file}); run `down` first",
              file=sys.stderr)
        return 1
    process, fleet = start_fleet(data_dir, work_dir=state_dir, port=port,
                                 devices_dir=fleet_devices_dir(state_dir),
                                 first_address=first_address)
    write_pid_file(pid_file, process.pid)
    (state_dir / SITE_FILE).write_text(json.dumps(fleet.to_json(), indent=2) + "\n")
    addresses = fleet.addresses()
    print(f"snmpsim serving {len(addresses)} printers on {addresses[0]}..{addresses[-1]} "
          f"port {fleet.port}")
    return 0


def sample_recordings_dir(state_dir: Path) -> Path:
    """Where the generated sample site of `state_dir` lives (outside any git tree)."""
    digest = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"kdfm-sample-site-{digest}"


def per_address_recordings(state_dir: Path, data_dir: Path | None) -> Path:
    """The recordings a per-address site serves: `data_dir`, else $KDFM_RECORDINGS, else the
    generated sample site when that directory does not exist (a clear line says so)."""
    if data_dir is not None:
        return data_dir
    recordings = default_recordings_dir()
    if recordings.is_dir():
        return recordings
    sample = sample_recordings_dir(state_dir)
    shutil.rmtree(sample, ignore_errors=True)
    written = write_sample_site(sample)
    print(f"recordings directory {recordings} does not exist (set KDFM_RECORDINGS): serving "
          f"the sample site instead, {len(written)} synthetic printers written to {sample}",
          flush=True)
    return sample


def down(state_dir: Path) -> int:
    """Stop the site recorded in `state_dir`; succeeds when none is running."""
    stopped = stop_pid_file(state_dir / PID_FILE)
    site_file = state_dir / SITE_FILE
    if site_file.exists():
        devices_dir = json.loads(site_file.read_text()).get("devices_dir")
        if devices_dir:
            shutil.rmtree(devices_dir, ignore_errors=True)
    # Only the generated sample is ours to delete, never a recordings directory.
    shutil.rmtree(sample_recordings_dir(state_dir), ignore_errors=True)
    site_file.unlink(missing_ok=True)
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
    parser.add_argument("--per-address", action="store_true",
                        help="one printer per loopback address, community `public`")
    parser.add_argument("--first-address", default=FIRST_ADDRESS,
                        help="with --per-address: the first printer's address (127.0.0.0/8)")
    args = parser.parse_args(argv)
    try:
        if args.action == "up" and args.per_address:
            return up_per_address(args.state_dir, port=args.port,
                                  data_dir=per_address_recordings(args.state_dir, args.data_dir),
                                  first_address=args.first_address)
        if args.action == "up":
            return up(args.state_dir, port=args.port,
                      data_dir=args.data_dir or default_recordings_dir())
        return down(args.state_dir)
    except (DevstackError, OSError, ValueError) as err:
        print(f"harness.site {args.action} failed: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
