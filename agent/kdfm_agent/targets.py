"""Targets the agent may talk to, and the guard that refuses every other address.

A target is `host` or `host:port` (`[v6addr]:port` for IPv6). A scan spec may also be a CIDR
block or a range `a.b.c.d-e.f.g.h`. The `SendGuard` is built from the configured targets and is
checked by every session before its first packet, so a bug elsewhere cannot make the agent probe
an address the customer did not list.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from kdfm_agent.errors import ConfigError, TargetRefusedError

DEFAULT_PORT = 161
MAX_SCAN_ADDRESSES = 65536
"""A scan spec larger than a /16 is almost certainly a typo; refuse it instead of probing it."""

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class Target:
    """One device to read: what the user wrote, and the address it resolved to."""

    host: str
    port: int = DEFAULT_PORT
    address: str | None = None

    @property
    def label(self) -> str:
        """`host:port` as the user would write it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_target(text: str, default_port: int = DEFAULT_PORT) -> Target:
    """Parse `host`, `host:port`, `v6addr` or `[v6addr]:port`."""
    text = text.strip()
    if not text:
        raise ConfigError("empty target")
    host, port = text, default_port
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ConfigError(f"target {text!r}: missing ']' after an IPv6 address")
        host, rest = text[1:end], text[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ConfigError(f"target {text!r}: expected ':port' after ']'")
            port = _port(text, rest[1:])
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        port = _port(text, port_text)
    if not host:
        raise ConfigError(f"target {text!r}: no host")
    return Target(host=host, port=port, address=literal_address(host))


def _port(text: str, port_text: str) -> int:
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigError(f"target {text!r}: port {port_text!r} is not a number in 1..65535")
    return int(port_text)


def literal_address(host: str) -> str | None:
    """`host` as a canonical IP address when it is one, else None (a name)."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def read_targets_file(path: str) -> list[str]:
    """Targets from a file: one a line, `#` starts a comment, blank lines ignored."""
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError as err:
        raise ConfigError(f"cannot read targets file {path!r}: {err.strerror}") from err
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]


async def resolve(target: Target) -> Target:
    """Fill in `address` for a hostname (first address the resolver gives)."""
    if target.address is not None:
        return target
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(target.host, target.port, type=socket.SOCK_DGRAM)
    except socket.gaierror as err:
        raise ConfigError(f"target {target.host!r}: cannot resolve ({err.strerror})") from err
    address = str(infos[0][4][0])
    return Target(host=target.host, port=target.port, address=address)


def expand_spec(spec: str) -> Iterator[IPAddress] | None:
    """Addresses of a CIDR block or `a-b` range; None when `spec` is a single host name/address."""
    spec = spec.strip()
    if "/" in spec:
        try:
            network = ipaddress.ip_network(spec, strict=False)
        except ValueError as err:
            raise ConfigError(f"scan spec {spec!r} is not a valid CIDR block: {err}") from err
        _check_size(spec, network.num_addresses)
        # A /31 or /32 (and v6 /127, /128) has no network/broadcast address to skip.
        hosts: Iterator[IPAddress] = network.hosts() if network.num_addresses > 2 else iter(network)
        return hosts
    if "-" in spec and literal_address(spec.split("-", 1)[0]) is not None:
        first_text, last_text = spec.split("-", 1)
        first, last = ipaddress.ip_address(first_text), _range_end(spec, last_text)
        if first.version != last.version or int(last) < int(first):
            raise ConfigError(f"scan range {spec!r}: the end comes before the start")
        _check_size(spec, int(last) - int(first) + 1)
        return (ipaddress.ip_address(n) for n in range(int(first), int(last) + 1))
    return None


def _range_end(spec: str, text: str) -> IPAddress:
    try:
        return ipaddress.ip_address(text)
    except ValueError as err:
        raise ConfigError(f"scan range {spec!r}: {text!r} is not an IP address") from err


def _check_size(spec: str, count: int) -> None:
    if count > MAX_SCAN_ADDRESSES:
        raise ConfigError(
            f"scan spec {spec!r} covers {count} addresses, more than the limit {MAX_SCAN_ADDRESSES}"
        )


class SendGuard:
    """The set of addresses a session may send to; anything else raises `TargetRefusedError`."""

    def __init__(self, addresses: Iterable[str]) -> None:
        self._allowed = frozenset(str(ipaddress.ip_address(a)) for a in addresses)

    @classmethod
    def for_targets(cls, targets: Iterable[Target]) -> SendGuard:
        """A guard allowing exactly the resolved addresses of `targets`."""
        addresses = []
        for target in targets:
            if target.address is None:
                raise ConfigError(f"target {target.host!r} must be resolved before guarding it")
            addresses.append(target.address)
        return cls(addresses)

    def __contains__(self, address: object) -> bool:
        return isinstance(address, str) and literal_address(address) in self._allowed

    def check(self, address: str) -> None:
        """Raise unless `address` is one of the configured targets."""
        if address not in self:
            raise TargetRefusedError(
                address, "refusing to send: the address is not among the configured targets"
            )
