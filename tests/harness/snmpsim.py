"""A simulated printer site: snmpsim serving every recording on one loopback UDP port.

SNMPv1/v2c: the community is the recording's file stem (`hp_color-laserjet-m452nw`,
`hp_supplies-context-test@Jetdirect`). SNMPv3: one engine with many USM users; the context
name selects the recording. snmpsim registers the plain stem as a context name only when it
is at most 32 characters (snmpCommunityTable limit); longer stems are reachable only by the
MD5 hex digest of the stem, which `SnmpSite.v3_context` returns.

Auth/priv combinations were tried against net-snmp 5.9.3 `snmpget -v3` (see DEFAULT_V3_USERS):
net-snmp's AES-192/AES-256 use Blumenthal key extension, which snmpsim calls AES192BLMT and
AES256BLMT. snmpsim's plain AES192/AES256 (Reeder extension) agree with net-snmp only when the
auth digest is long enough to need no extension: AES192 with SHA224 or longer, AES256 with
SHA256 or longer. 3DES is not offered by net-snmp at all.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from kdfm_cloud.devstack.errors import StartupError
from kdfm_cloud.devstack.processes import Process, free_port, start_process, wait_until

RECORDING_SUFFIX = ".snmprec"
STARTUP_TIMEOUT = 120.0
"""Seconds to wait for the first answer; building the indexes takes a few seconds, more when
the machine is loaded."""

PROBE_OID = "1.3.6.1.2.1.1.2.0"
"""sysObjectID: every recording has it, so a GET on it proves a recording is served."""

AUTH_PROTOCOLS = ("NONE", "MD5", "SHA", "SHA224", "SHA256", "SHA384", "SHA512")
PRIV_PROTOCOLS = ("NONE", "DES", "AES", "AES192", "AES256", "AES192BLMT", "AES256BLMT")

NET_SNMP_AUTH = {
    "MD5": "MD5",
    "SHA": "SHA",
    "SHA224": "SHA-224",
    "SHA256": "SHA-256",
    "SHA384": "SHA-384",
    "SHA512": "SHA-512",
}
"""snmpsim auth protocol name -> net-snmp `-a` argument."""

NET_SNMP_PRIV = {
    "DES": "DES",
    "AES": "AES",
    "AES192": "AES-192",
    "AES256": "AES-256",
    "AES192BLMT": "AES-192",
    "AES256BLMT": "AES-256",
}
"""snmpsim priv protocol name -> net-snmp `-x` argument (see the module docstring for AES-192)."""


@dataclass(frozen=True)
class V3User:
    """One SNMPv3 USM user of the simulated engine, protocols named as snmpsim names them."""

    name: str
    auth_proto: str
    auth_key: str
    priv_proto: str
    priv_key: str

    def __post_init__(self) -> None:
        if self.auth_proto not in AUTH_PROTOCOLS:
            raise ValueError(f"V3User {self.name}: unknown auth protocol {self.auth_proto!r}")
        if self.priv_proto not in PRIV_PROTOCOLS:
            raise ValueError(f"V3User {self.name}: unknown priv protocol {self.priv_proto!r}")
        if self.auth_proto == "NONE" and self.priv_proto != "NONE":
            raise ValueError(f"V3User {self.name}: privacy without authentication is not SNMPv3")
        for label, proto, key in (("auth", self.auth_proto, self.auth_key),
                                  ("priv", self.priv_proto, self.priv_key)):
            if proto != "NONE" and len(key) < 8:
                raise ValueError(f"V3User {self.name}: {label} key must be at least 8 characters")

    @property
    def security_level(self) -> str:
        """The USM security level in net-snmp spelling: noAuthNoPriv, authNoPriv or authPriv."""
        if self.auth_proto == "NONE":
            return "noAuthNoPriv"
        return "authNoPriv" if self.priv_proto == "NONE" else "authPriv"

    def snmpsim_args(self) -> list[str]:
        """This user's `--v3-user` block for snmpsim-command-responder."""
        args = ["--v3-user", self.name]
        if self.auth_proto != "NONE":
            args += ["--v3-auth-key", self.auth_key, "--v3-auth-proto", self.auth_proto]
        if self.priv_proto != "NONE":
            args += ["--v3-priv-key", self.priv_key, "--v3-priv-proto", self.priv_proto]
        return args

    def net_snmp_args(self) -> list[str]:
        """The `snmpget -v3` options that authenticate as this user."""
        args = ["-v3", "-l", self.security_level, "-u", self.name]
        if self.auth_proto != "NONE":
            args += ["-a", NET_SNMP_AUTH[self.auth_proto], "-A", self.auth_key]
        if self.priv_proto != "NONE":
            args += ["-x", NET_SNMP_PRIV[self.priv_proto], "-X", self.priv_key]
        return args


def _user(auth: str, priv: str) -> V3User:
    name = f"kdfm-{auth}-{priv}".lower()
    return V3User(name, auth, f"auth-{name}", priv, f"priv-{name}")


def _net_snmp_compatible(auth: str, priv: str) -> bool:
    if priv == "AES192":
        return auth in ("SHA224", "SHA256", "SHA384", "SHA512")
    if priv == "AES256":
        return auth in ("SHA256", "SHA384", "SHA512")
    return True


DEFAULT_V3_USERS: tuple[V3User, ...] = (
    V3User("kdfm-none-none", "NONE", "", "NONE", ""),
    *(
        _user(auth, priv)
        for auth in AUTH_PROTOCOLS[1:]
        for priv in PRIV_PROTOCOLS
        if _net_snmp_compatible(auth, priv)
    ),
)
"""One user per auth/priv combination that both snmpsim and net-snmp 5.9 accept (38 users)."""


@dataclass(frozen=True)
class SnmpSite:
    """A running snmpsim: where it listens and how to address each recording."""

    host: str
    port: int
    data_dir: Path
    communities: tuple[str, ...]
    v3_users: tuple[V3User, ...]

    def endpoint(self) -> str:
        """The agent address as "HOST:PORT"."""
        return f"{self.host}:{self.port}"

    def v3_context(self, community: str) -> str:
        """The SNMPv3 context name that selects the recording `community`."""
        return v3_context_name(community)

    def user(self, name: str) -> V3User:
        """The configured v3 user called `name`."""
        for user in self.v3_users:
            if user.name == name:
                return user
        raise KeyError(f"snmpsim site has no v3 user {name!r}")


def v3_context_name(community: str) -> str:
    """snmpsim's context name for a recording: the stem, or its MD5 when over 32 characters."""
    if len(community) <= 32:
        return community
    return hashlib.md5(community.encode(), usedforsecurity=False).hexdigest()


def default_recordings_dir() -> Path:
    """$KDFM_RECORDINGS, else `<repo>/../shared/printers/snmprec`."""
    env = os.environ.get("KDFM_RECORDINGS")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[2]
    return repo.parent / "shared" / "printers" / "snmprec"


def communities_in(data_dir: Path) -> tuple[str, ...]:
    """The community of every recording in `data_dir` (file stems, sorted)."""
    if not data_dir.is_dir():
        raise FileNotFoundError(f"recordings directory {data_dir} does not exist")
    return tuple(sorted(p.name[: -len(RECORDING_SUFFIX)]
                        for p in data_dir.glob(f"*{RECORDING_SUFFIX}")))


def responder_path() -> Path:
    """snmpsim-command-responder next to the running interpreter (the venv), else on PATH."""
    local = Path(sys.executable).parent / "snmpsim-command-responder"
    if local.exists():
        return local
    found = shutil.which("snmpsim-command-responder")
    if found is None:
        raise FileNotFoundError("snmpsim-command-responder not found; run `make install`")
    return Path(found)


def responder_argv(
    data_dir: Path,
    *,
    host: str,
    port: int,
    cache_dir: Path,
    v3_users: Sequence[V3User],
) -> list[str]:
    """The command line of one snmpsim engine serving `data_dir` with `v3_users`."""
    # Options after --v3-engine-id configure that engine; the data dir and endpoint must
    # follow it, or snmpsim also serves its bundled example data and leaves the engine unbound.
    argv = [
        str(responder_path()),
        "--log-level", "error",
        "--cache-dir", str(cache_dir),
        "--v3-engine-id", "auto",
        "--data-dir", str(data_dir),
        "--agent-udpv4-endpoint", f"{host}:{port}",
    ]
    for user in v3_users:
        argv += user.snmpsim_args()
    return argv


def snmpget(
    site: SnmpSite,
    oid: str,
    *,
    community: str | None = None,
    user: V3User | None = None,
    context: str | None = None,
    timeout: float = 5.0,
    retries: int = 1,
) -> subprocess.CompletedProcess[str]:
    """Run net-snmp `snmpget` against the site (v2c with `community`, v3 with `user`)."""
    return net_snmp_get(site.endpoint(), oid, community=community or site.communities[0],
                        user=user, context=context, timeout=timeout, retries=retries)


def net_snmp_get(
    endpoint: str,
    oid: str,
    *,
    community: str,
    user: V3User | None = None,
    context: str | None = None,
    timeout: float = 5.0,
    retries: int = 1,
    output_options: str = "n",
) -> subprocess.CompletedProcess[str]:
    """net-snmp `snmpget` of `oid` at "HOST:PORT" (v2c with `community`, v3 with `user`)."""
    args = ["snmpget", f"-O{output_options}", "-t", str(timeout), "-r", str(retries)]
    if user is not None:
        args += user.net_snmp_args()
        if context is not None:
            args += ["-n", context]
    else:
        args += ["-v2c", "-c", community]
    args += [endpoint, oid]
    return subprocess.run(args, capture_output=True, text=True,
                          timeout=timeout * (retries + 2) + 10)


def answers(endpoint: str, community: str) -> bool:
    """Whether "HOST:PORT" answers one v2c GET of sysObjectID right now (indexes built)."""
    result = net_snmp_get(endpoint, PROBE_OID, community=community, timeout=1, retries=0)
    return result.returncode == 0 and PROBE_OID in result.stdout


def start_site(
    data_dir: Path,
    *,
    work_dir: Path,
    v3_users: Sequence[V3User] = DEFAULT_V3_USERS,
    host: str = "127.0.0.1",
    port: int = 0,
    timeout: float = STARTUP_TIMEOUT,
) -> tuple[Process, SnmpSite]:
    """Start snmpsim and wait until it answers a real GET; the caller stops the process.

    `work_dir` holds the index cache (reused across starts, so keep it to start faster) and
    the log file `snmpsim.log`.
    """
    communities = communities_in(data_dir)
    if not communities:
        raise FileNotFoundError(f"no {RECORDING_SUFFIX} recordings in {data_dir}")
    cache_dir = work_dir / "cache"
    cache_dir.mkdir(parents=True, exist_ok=True)
    attempts = 1 if port else 3
    for attempt in range(attempts):
        chosen = port or free_port(host, kind=socket.SOCK_DGRAM)
        argv = responder_argv(data_dir, host=host, port=chosen, cache_dir=cache_dir,
                              v3_users=v3_users)
        process = start_process("snmpsim", argv, log_path=work_dir / "snmpsim.log",
                                env={"SNMPSIM_ALLOW_ROOT": "true"})
        try:
            wait_until(functools.partial(answers, f"{host}:{chosen}", communities[0]),
                       timeout=timeout, what=f"snmpsim on {host}:{chosen}",
                       interval=0.5, alive=process.alive, log_path=process.log_path)
        except StartupError:
            exited_early = not process.alive()
            process.stop()
            # A lost race for the UDP port shows as an early exit; try another port.
            if exited_early and attempt + 1 < attempts:
                continue
            raise
        site = SnmpSite(host=host, port=chosen, data_dir=data_dir, communities=communities,
                        v3_users=tuple(v3_users))
        return process, site
    raise AssertionError("unreachable: the last attempt raises")


@contextmanager
def running_site(
    data_dir: Path,
    *,
    v3_users: Sequence[V3User] = DEFAULT_V3_USERS,
    work_dir: Path | None = None,
) -> Iterator[SnmpSite]:
    """snmpsim serving every recording in `data_dir`, stopped on exit."""
    with tempfile.TemporaryDirectory(prefix="kdfm-snmpsim-") as tmp:
        process, site = start_site(data_dir, work_dir=work_dir or Path(tmp), v3_users=v3_users)
        try:
            yield site
        finally:
            process.stop()
