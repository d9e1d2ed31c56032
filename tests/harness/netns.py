"""Customer sites as Linux network namespaces, each running its own sshd (for Ansible tests).

One `site_network(n)` builds: a bridge in the root namespace holding 10.213.<r>.1/24 (a random
private subnet that exists only on this bridge), and per site a namespace `kdfm-<tag>-<i>`
joined to the bridge by a veth pair, addressed 10.213.<r>.<10+i>, with an sshd that accepts
only a throwaway ed25519 key. Everything is removed on exit, also when the block raises.
"""

from __future__ import annotations

import contextlib
import functools
import secrets
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from kdfm_cloud.devstack.errors import DevstackError
from kdfm_cloud.devstack.processes import Process, start_process, wait_until

SSHD = "/usr/sbin/sshd"
SUBNET_PREFIX = "10.213"
FIRST_HOST = 10
STARTUP_TIMEOUT = 60.0
"""Seconds to wait until every sshd accepts TCP connections."""


class SitesUnavailable(DevstackError):
    """This machine cannot create network namespaces (not root, or no CAP_NET_ADMIN)."""


@dataclass(frozen=True)
class Site:
    """One simulated customer site: an sshd at `address` inside namespace `netns`."""

    name: str
    netns: str
    address: str
    key_path: Path
    port: int = 22
    user: str = "root"

    def ssh_argv(self, *command: str) -> list[str]:
        """An `ssh` command line that runs `command` on this site with the throwaway key."""
        return [
            "ssh", "-i", str(self.key_path), "-p", str(self.port),
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR",
            "-o", "IdentitiesOnly=yes",
            f"{self.user}@{self.address}", *command,
        ]

    def ssh(self, *command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run `command` on the site over ssh and return its result (not checked)."""
        return subprocess.run(self.ssh_argv(*command), capture_output=True, text=True,
                              timeout=timeout)


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise DevstackError(f"`ip {' '.join(args)}` failed: {result.stderr.strip()}")


def check_namespaces_possible() -> None:
    """Raise SitesUnavailable when this process cannot create a network namespace."""
    probe = f"kdfm-probe-{secrets.token_hex(3)}"
    try:
        _ip("netns", "add", probe)
    except (DevstackError, FileNotFoundError) as err:
        raise SitesUnavailable(f"cannot create network namespaces here "
                               f"(needs root / CAP_NET_ADMIN and iproute2): {err}") from err
    with contextlib.suppress(DevstackError):
        _ip("netns", "del", probe)
    if not Path(SSHD).exists():
        raise SitesUnavailable(f"{SSHD} missing; install openssh-server (`make debs`)")


def _free_subnet() -> int:
    # The third octet of a 10.213.x.0/24 that no interface or route here uses yet.
    used = subprocess.run(["ip", "-4", "route", "show"], capture_output=True, text=True,
                          timeout=30).stdout
    used += subprocess.run(["ip", "-4", "addr", "show"], capture_output=True, text=True,
                           timeout=30).stdout
    for _ in range(100):
        octet = 1 + secrets.randbelow(254)
        if f"{SUBNET_PREFIX}.{octet}." not in used:
            return octet
    raise DevstackError(f"no free {SUBNET_PREFIX}.x.0/24 subnet found after 100 tries")


def _keygen(path: Path, comment: str) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment,
                    "-f", str(path)], check=True, capture_output=True, timeout=60)


def _sshd_config(work: Path, address: str, index: int) -> Path:
    config = work / f"sshd-{index}.conf"
    config.write_text(f"""# Written by harness.netns for one throwaway site.
ListenAddress {address}:22
HostKey {work / 'host_ed25519'}
PidFile {work / f'sshd-{index}.pid'}
AuthorizedKeysFile {work / 'authorized_keys'}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
# The key files live under /tmp, whose world-writable parent StrictModes would reject.
StrictModes no
LogLevel VERBOSE
Subsystem sftp internal-sftp
""")
    return config


def _accepts_tcp(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=1):
            return True
    except OSError:
        return False


@contextmanager
def site_network(count: int, *, work_dir: Path | None = None) -> Iterator[tuple[Site, ...]]:
    """`count` sites with sshd on one private bridge; all torn down on exit."""
    if count < 1 or count > 200:
        raise ValueError(f"site count must be between 1 and 200, not {count}")
    check_namespaces_possible()
    tag = secrets.token_hex(3)
    octet = _free_subnet()
    bridge = f"kbr-{tag}"
    namespaces: list[str] = []
    host_links: list[str] = [bridge]
    processes: list[Process] = []
    with contextlib.ExitStack() as stack:
        if work_dir is None:
            work_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kdfm-sites-")))
        try:
            Path("/run/sshd").mkdir(mode=0o755, parents=True, exist_ok=True)
            _keygen(work_dir / "host_ed25519", f"kdfm-site-host-{tag}")
            _keygen(work_dir / "client_ed25519", f"kdfm-site-client-{tag}")
            authorized = work_dir / "authorized_keys"
            authorized.write_text((work_dir / "client_ed25519.pub").read_text())
            authorized.chmod(0o600)
            _ip("link", "add", bridge, "type", "bridge")
            _ip("addr", "add", f"{SUBNET_PREFIX}.{octet}.1/24", "dev", bridge)
            _ip("link", "set", bridge, "up")
            sites = []
            for index in range(count):
                netns, host_end, site_end = f"kdfm-{tag}-{index}", f"kv-{tag}-{index}", \
                    f"kp-{tag}-{index}"
                address = f"{SUBNET_PREFIX}.{octet}.{FIRST_HOST + index}"
                _ip("netns", "add", netns)
                namespaces.append(netns)
                _ip("link", "add", host_end, "type", "veth", "peer", "name", site_end)
                host_links.append(host_end)
                _ip("link", "set", site_end, "netns", netns)
                _ip("link", "set", host_end, "master", bridge)
                _ip("link", "set", host_end, "up")
                _ip("-n", netns, "link", "set", "lo", "up")
                _ip("-n", netns, "addr", "add", f"{address}/24", "dev", site_end)
                _ip("-n", netns, "link", "set", site_end, "up")
                _ip("-n", netns, "route", "add", "default", "via", f"{SUBNET_PREFIX}.{octet}.1")
                config = _sshd_config(work_dir, address, index)
                processes.append(start_process(
                    f"sshd in {netns}",
                    # A UTS namespace of its own gives each site its own `hostname`.
                    ["ip", "netns", "exec", netns, "unshare", "--uts", "--", "sh", "-c",
                     f'hostname "$1" && exec {SSHD} -D -e -f "$2"', "sh", f"site-{index}",
                     str(config)],
                    log_path=work_dir / f"sshd-{index}.log"))
                sites.append(Site(name=f"site-{index}", netns=netns, address=address,
                                  key_path=work_dir / "client_ed25519"))
            for site, process in zip(sites, processes, strict=True):
                wait_until(functools.partial(_accepts_tcp, site.address, site.port),
                           timeout=STARTUP_TIMEOUT, what=f"sshd of {site.name} at {site.address}",
                           interval=0.2, alive=process.alive, log_path=process.log_path)
            yield tuple(sites)
        finally:
            _teardown(processes, namespaces, host_links)


def _teardown(processes: Sequence[Process], namespaces: Sequence[str],
              host_links: Sequence[str]) -> None:
    # Best effort, every step attempted: a failure to delete one link must not leave the rest.
    problems = []
    for process in processes:
        try:
            process.stop()
        except OSError as err:
            problems.append(f"stopping {process.name}: {err}")
    # Links first: deleting a veth end removes its peer synchronously, whereas `ip netns del`
    # leaves the kernel to destroy the namespace's devices later, racing a following delete.
    for link in reversed(host_links):
        try:
            _ip("link", "del", link)
        except DevstackError as err:
            if "Cannot find device" not in str(err):
                problems.append(str(err))
    for netns in namespaces:
        try:
            _ip("netns", "del", netns)
        except DevstackError as err:
            problems.append(str(err))
    if problems:
        raise DevstackError("site network teardown left debris: " + "; ".join(problems))
