"""A simulated customer site: one printer per loopback address, all served by one snmpsim.

Layout
------
Every device recording (`<stem>.snmprec`, sorted by stem) becomes one printer with its own
address, 127.77.0.1, 127.77.0.2, ... in that order, all on the same UDP port. Files named
`<stem>@<context>.snmprec` are not printers but an extra SNMP context of printer `<stem>`
(HP's `Jetdirect`). One snmpsim process runs one SNMP engine per printer: each engine has
its own data directory, endpoint, engine id (`auto`) and the same v3 users.

A printer's data directory (under the fleet's work dir, never inside the git tree) holds hard
links to the shared recordings (a copy when the filesystem refuses a link; never a symlink,
because snmpsim names a file's community after the symlink's *target*):

    devices/127.77.0.1/public.snmprec            <stem>.snmprec: v2c community `public`,
                                                 v3 context `public`
    devices/127.77.0.1/self.snmprec              <stem>.snmprec again: v3 default (empty) context
    devices/127.77.0.1/public@Jetdirect.snmprec  <stem>@Jetdirect.snmprec: v2c community
                                                 `public@Jetdirect` (Cisco-style indexing),
                                                 v3 context `public@Jetdirect`
    devices/127.77.0.1/Jetdirect.snmprec         <stem>@Jetdirect.snmprec again: v3 context
                                                 `Jetdirect`, as a real Jetdirect card names it

snmpsim strips a leading `self` from a data file's name, so `self.snmprec` registers the empty
community/context. The price of these aliases, checked against snmpsim 1.2.2: v2c communities
`""` and `Jetdirect` also answer, and v3 contexts `public` and `public@Jetdirect` work beside
the realistic empty context and `Jetdirect`. Other communities and contexts get no answer.

Port: one port for all printers, free on every address. A snmpsim whose endpoint is already
taken does not exit: it logs "Listening at ..." and then serves nothing, while the other
process answers the probes. So the port is checked on every address before the start, and
after the start the harness checks that the snmpsim process itself holds every endpoint.

v3 users: every engine localises every user's keys at start-up (about 20 ms per user and
engine here), so the fleet defaults to FLEET_V3_USERS, a few typical combinations, instead of
all of harness.snmpsim.DEFAULT_V3_USERS (measured: ~5 s instead of ~17 s for 20 printers).
"""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from kdfm_cloud.devstack.errors import DevstackError, StartupError
from kdfm_cloud.devstack.processes import Process, free_port, port_is_free, start_process

from harness.snmpsim import (
    DEFAULT_V3_USERS,
    RECORDING_SUFFIX,
    STARTUP_TIMEOUT,
    V3User,
    answers,
    communities_in,
    net_snmp_get,
    responder_path,
)

FIRST_ADDRESS = "127.77.0.1"
"""The first printer's address; the others follow in sorted recording order."""

COMMUNITY = "public"
"""The v2c community every printer answers, as printers ship."""

CONTEXT_SEPARATOR = "@"
"""`<stem>@<context>.snmprec` is context `<context>` of printer `<stem>`."""

DEFAULT_CONTEXT_FILE = "self"
"""snmpsim serves `self.snmprec` under the empty community and the empty v3 context."""

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")

FLEET_V3_USERS: tuple[V3User, ...] = tuple(
    user for user in DEFAULT_V3_USERS
    if user.name in ("kdfm-none-none", "kdfm-md5-des", "kdfm-sha-none", "kdfm-sha-aes",
                     "kdfm-sha256-aes")
)
"""The fleet's default v3 users: no security, legacy MD5/DES, SHA without privacy, SHA/AES and
SHA-256/AES (the combinations printers ship with)."""


@dataclass(frozen=True)
class FleetDevice:
    """One simulated printer: its recording, its own address and the extra contexts it has."""

    recording: str
    address: str
    port: int
    contexts: tuple[str, ...] = ()

    def endpoint(self) -> str:
        """The agent address as "HOST:PORT"."""
        return f"{self.address}:{self.port}"

    def community_for(self, context: str, community: str = COMMUNITY) -> str:
        """The v2c community that reaches `context` (Cisco-style `public@Jetdirect`)."""
        if context not in self.contexts:
            raise KeyError(f"printer {self.recording} has no SNMP context {context!r}")
        return f"{community}{CONTEXT_SEPARATOR}{context}"


@dataclass(frozen=True)
class SnmpFleet:
    """A running fleet: every printer, the shared port, community and v3 users."""

    devices: tuple[FleetDevice, ...]
    port: int
    community: str
    v3_users: tuple[V3User, ...]
    recordings_dir: Path
    devices_dir: Path

    def device(self, recording: str) -> FleetDevice:
        """The printer serving the recording `recording` (file stem)."""
        for device in self.devices:
            if device.recording == recording:
                return device
        raise KeyError(f"the fleet has no printer for recording {recording!r}")

    def user(self, name: str) -> V3User:
        """The configured v3 user called `name`."""
        for user in self.v3_users:
            if user.name == name:
                return user
        raise KeyError(f"the fleet has no v3 user {name!r}")

    def addresses(self) -> tuple[str, ...]:
        """Every printer address, in device order."""
        return tuple(device.address for device in self.devices)

    def to_json(self) -> dict[str, Any]:
        """The fleet as `site.json` records it: devices, community and v3 credentials."""
        return {
            "mode": "per-address",
            "port": self.port,
            "community": self.community,
            "recordings_dir": str(self.recordings_dir),
            "devices_dir": str(self.devices_dir),
            "devices": [
                {"recording": d.recording, "address": d.address, "port": d.port,
                 "contexts": list(d.contexts)}
                for d in self.devices
            ],
            "v3_users": [
                {"name": u.name, "auth_proto": u.auth_proto, "auth_key": u.auth_key,
                 "priv_proto": u.priv_proto, "priv_key": u.priv_key}
                for u in self.v3_users
            ],
        }


def fleet_addresses(count: int, first: str = FIRST_ADDRESS) -> tuple[str, ...]:
    """`count` consecutive loopback addresses from `first`; all must stay inside 127.0.0.0/8."""
    start = ipaddress.ip_address(first)
    addresses = [ipaddress.ip_address(int(start) + i) for i in range(count)]
    for address in (start, *addresses):
        if address not in LOOPBACK:
            raise ValueError(f"fleet address {address} is outside 127.0.0.0/8; tests may only "
                             "use loopback addresses")
    return tuple(str(address) for address in addresses)


def fleet_recordings(recordings_dir: Path) -> dict[str, tuple[str, ...]]:
    """Printer recording stem -> its extra context names, from the files in `recordings_dir`."""
    stems = communities_in(recordings_dir)
    printers = [stem for stem in stems if CONTEXT_SEPARATOR not in stem]
    contexts: dict[str, list[str]] = {stem: [] for stem in printers}
    for stem in stems:
        if CONTEXT_SEPARATOR not in stem:
            continue
        printer, context = stem.split(CONTEXT_SEPARATOR, 1)
        if printer not in contexts:
            raise ValueError(f"context recording {stem}{RECORDING_SUFFIX} in {recordings_dir} "
                             f"has no printer recording {printer}{RECORDING_SUFFIX}")
        contexts[printer].append(context)
    return {printer: tuple(names) for printer, names in contexts.items()}


def link_or_copy(source: Path, target: Path) -> None:
    """Hard-link `source` to `target`, or copy it when the filesystem refuses a link."""
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError as err:
        # EXDEV: another filesystem; EPERM: protected_hardlinks or a filesystem without links.
        if err.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EOPNOTSUPP):
            raise
        shutil.copyfile(source, target)


def _inside_git_tree(path: Path) -> bool:
    return any((parent / ".git").exists() for parent in (path, *path.parents))


def build_device_dirs(recordings_dir: Path, devices_dir: Path,
                      devices: Sequence[FleetDevice], community: str) -> None:
    """Write one data directory per printer under `devices_dir` (see the module docstring)."""
    devices_dir = devices_dir.resolve()
    if _inside_git_tree(devices_dir):
        raise ValueError(f"fleet devices dir {devices_dir} is inside a git work tree; the "
                         "recordings must never be committed, use a temporary directory")
    # Rebuilt on every start so a changed recordings dir never leaves stale printers behind.
    shutil.rmtree(devices_dir, ignore_errors=True)
    for device in devices:
        device_dir = devices_dir / device.address
        device_dir.mkdir(parents=True)
        recording = recordings_dir / f"{device.recording}{RECORDING_SUFFIX}"
        link_or_copy(recording, device_dir / f"{community}{RECORDING_SUFFIX}")
        link_or_copy(recording, device_dir / f"{DEFAULT_CONTEXT_FILE}{RECORDING_SUFFIX}")
        for context in device.contexts:
            source = recordings_dir / f"{device.recording}{CONTEXT_SEPARATOR}{context}" \
                f"{RECORDING_SUFFIX}"
            link_or_copy(source, device_dir / f"{device.community_for(context, community)}"
                                              f"{RECORDING_SUFFIX}")
            link_or_copy(source, device_dir / f"{context}{RECORDING_SUFFIX}")


def fleet_argv(devices_dir: Path, devices: Sequence[FleetDevice], *, cache_dir: Path,
               v3_users: Sequence[V3User]) -> list[str]:
    """The command line of one snmpsim running one engine per printer."""
    argv = [str(responder_path()), "--log-level", "error", "--cache-dir", str(cache_dir)]
    for device in devices:
        # Options after --v3-engine-id configure that engine: data dir and endpoint first,
        # then its users (the order rules of harness.snmpsim.responder_argv).
        argv += [
            "--v3-engine-id", "auto",
            "--data-dir", str(devices_dir.resolve() / device.address),
            "--agent-udpv4-endpoint", device.endpoint(),
        ]
        for user in v3_users:
            argv += user.snmpsim_args()
    return argv


def free_fleet_port(addresses: Sequence[str]) -> int:
    """A UDP port that was free a moment ago on every one of `addresses`."""
    for _ in range(50):
        port = free_port(addresses[0], kind=socket.SOCK_DGRAM)
        if all(port_is_free(a, port, kind=socket.SOCK_DGRAM) for a in addresses[1:]):
            return port
    raise DevstackError(f"no UDP port free on all of {addresses[0]}..{addresses[-1]} "
                        "after 50 tries")


def fleet_snmpget(
    device: FleetDevice,
    oid: str,
    *,
    community: str = COMMUNITY,
    user: V3User | None = None,
    context: str | None = None,
    timeout: float = 5.0,
    retries: int = 1,
    output_options: str = "n",
) -> subprocess.CompletedProcess[str]:
    """Run net-snmp `snmpget` against one printer (v2c with `community`, v3 with `user`)."""
    return net_snmp_get(device.endpoint(), oid, community=community, user=user, context=context,
                        timeout=timeout, retries=retries, output_options=output_options)


def device_answers(device: FleetDevice, community: str = COMMUNITY) -> bool:
    """Whether `device` answers a v2c GET of sysObjectID right now."""
    return answers(device.endpoint(), community)


def _wait_for_fleet(process: Process, devices: Sequence[FleetDevice], community: str,
                    timeout: float) -> None:
    # Every engine must answer; one that answered stays answered, so each is asked until once.
    pending = list(devices)
    deadline = time.monotonic() + timeout
    while pending:
        if device_answers(pending[0], community):
            pending.pop(0)
            continue
        if not process.alive():
            raise process.startup_error(
                f"exited before {pending[0].endpoint()} ({pending[0].recording}) answered")
        if time.monotonic() >= deadline:
            raise process.startup_error(
                f"{len(pending)} of {len(devices)} printers did not answer within "
                f"{timeout:.0f} s, first {pending[0].endpoint()} ({pending[0].recording})")
        time.sleep(0.2)


def _endpoints_not_held(process: Process, devices: Sequence[FleetDevice]) -> list[str]:
    # The UDP sockets the snmpsim process itself has bound, to tell ours from a stranger's.
    held = {(c.laddr.ip, c.laddr.port)
            for c in psutil.Process(process.pid).net_connections(kind="udp4")}
    return [d.endpoint() for d in devices if (d.address, d.port) not in held]


def start_fleet(
    recordings_dir: Path,
    *,
    work_dir: Path,
    devices_dir: Path | None = None,
    v3_users: Sequence[V3User] = FLEET_V3_USERS,
    first_address: str = FIRST_ADDRESS,
    port: int = 0,
    community: str = COMMUNITY,
    timeout: float = STARTUP_TIMEOUT,
) -> tuple[Process, SnmpFleet]:
    """Start one snmpsim with one engine per printer and wait until every printer answers.

    `work_dir` holds the index cache (keep it to start faster) and `snmpsim.log`;
    `devices_dir` (default `work_dir/devices`) the per-printer data directories.
    The caller stops the process.
    """
    recordings = fleet_recordings(recordings_dir)
    if not recordings:
        raise FileNotFoundError(f"no printer {RECORDING_SUFFIX} recordings in {recordings_dir}")
    addresses = fleet_addresses(len(recordings), first_address)
    devices_dir = (devices_dir or work_dir / "devices").resolve()
    cache_dir = work_dir / "cache"
    cache_dir.mkdir(parents=True, exist_ok=True)
    attempts = 1 if port else 3
    for attempt in range(attempts):
        chosen = port or free_fleet_port(addresses)
        if port and not all(port_is_free(a, port, kind=socket.SOCK_DGRAM) for a in addresses):
            raise DevstackError(f"UDP port {port} is taken on some fleet address "
                                f"{addresses[0]}..{addresses[-1]}")
        devices = tuple(FleetDevice(stem, address, chosen, contexts)
                        for (stem, contexts), address in zip(recordings.items(), addresses,
                                                             strict=True))
        build_device_dirs(recordings_dir, devices_dir, devices, community)
        argv = fleet_argv(devices_dir, devices, cache_dir=cache_dir, v3_users=v3_users)
        process = start_process("snmpsim fleet", argv, log_path=work_dir / "snmpsim.log",
                                env={"SNMPSIM_ALLOW_ROOT": "true"})
        lost_race = False
        try:
            _wait_for_fleet(process, devices, community, timeout)
            missing = _endpoints_not_held(process, devices)
            if missing:
                lost_race = True
                raise process.startup_error(
                    f"another process holds {', '.join(missing)}; lost the race for the port")
        except StartupError:
            # An early exit or a stranger's socket means the chosen port was lost; try another.
            lost_race = lost_race or not process.alive()
            process.stop()
            if lost_race and attempt + 1 < attempts:
                continue
            raise
        fleet = SnmpFleet(devices=devices, port=chosen, community=community,
                          v3_users=tuple(v3_users), recordings_dir=recordings_dir,
                          devices_dir=devices_dir)
        return process, fleet
    raise AssertionError("unreachable: the last attempt raises")


@contextmanager
def running_fleet(
    recordings_dir: Path,
    *,
    v3_users: Sequence[V3User] = FLEET_V3_USERS,
    first_address: str = FIRST_ADDRESS,
    work_dir: Path | None = None,
) -> Iterator[SnmpFleet]:
    """A fleet of every printer recording in `recordings_dir`, stopped on exit."""
    with tempfile.TemporaryDirectory(prefix="kdfm-fleet-") as tmp:
        process, fleet = start_fleet(recordings_dir, work_dir=work_dir or Path(tmp),
                                     v3_users=v3_users, first_address=first_address)
        try:
            yield fleet
        finally:
            process.stop()


def fleet_from_json(text: str) -> SnmpFleet:
    """The fleet described by a `site.json` written in per-address mode."""
    info = json.loads(text)
    if info.get("mode") != "per-address":
        raise ValueError("site.json does not describe a per-address fleet "
                         f"(mode {info.get('mode')!r})")
    return SnmpFleet(
        devices=tuple(FleetDevice(d["recording"], d["address"], int(d["port"]),
                                  tuple(d["contexts"])) for d in info["devices"]),
        port=int(info["port"]),
        community=info["community"],
        v3_users=tuple(V3User(**u) for u in info["v3_users"]),
        recordings_dir=Path(info["recordings_dir"]),
        devices_dir=Path(info["devices_dir"]),
    )
