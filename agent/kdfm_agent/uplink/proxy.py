"""HTTP CONNECT tunnels for the MQTT connection, with the proxy chosen the way gRPC chooses it.

gRPC (grpc core's http_proxy_mapper) takes the `grpc.http_proxy` channel argument, which is our
`gateway.proxy`, else the first of the environment variables grpc_proxy, https_proxy and
http_proxy that is set (lower-case names only; a variable set to "" means no proxy). A host
listed in no_grpc_proxy, else no_proxy, goes direct even with an explicit proxy: an entry
matches when the host name ends with it (case-insensitive, so `example.com` also covers
`www.example.com`) or when the host is an address inside the entry's CIDR block. A proxy URL
without a port means port 443, as gRPC resolves it. `proxy_for` applies the same rules, so
nudges and polls take the same route.

`open_tunnel` dials the proxy, asks it to CONNECT to the broker and returns the connected socket;
TLS (and WebSockets) then run inside the tunnel end to end, so the proxy sees the broker's name
and port and nothing else. The agent still only dials out.
"""

from __future__ import annotations

import base64
import ipaddress
import logging
import os
import socket
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field

from kdfm_agent.uplink.errors import UplinkError

log = logging.getLogger(__name__)

DEFAULT_PORT = 443
"""Port of a proxy URL that names none (gRPC resolves the proxy's name with the HTTPS port)."""
PROXY_VARIABLES = ("grpc_proxy", "https_proxy", "http_proxy")
"""Environment variables that name the proxy, in gRPC's order."""
NO_PROXY_VARIABLES = ("no_grpc_proxy", "no_proxy")
"""Environment variables that list hosts reached directly, in gRPC's order."""
MAX_ANSWER_BYTES = 16 * 1024
"""Longest answer header accepted from a proxy (a sane one sends a few hundred bytes)."""


class ProxyError(UplinkError, ConnectionError):
    """The proxy was unreachable, refused the tunnel or did not speak HTTP: retry later.

    A ConnectionError too, so paho's network thread treats it like any failed connection
    attempt and tries again with backoff instead of ending.
    """

    retryable = True


@dataclass(frozen=True, slots=True)
class HttpProxy:
    """An HTTP proxy that opens CONNECT tunnels, and where the agent learnt of it."""

    host: str
    port: int
    username: str = ""
    password: str = field(default="", repr=False)
    source: str = "gateway.proxy"
    """The setting or environment variable that named the proxy (for messages)."""

    def __str__(self) -> str:
        # Never the credentials: this ends up in logs.
        return f"http://{_authority(self.host, self.port)}"


def _authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _redacted(text: str) -> str:
    """`text` with any user name and password replaced by ***."""
    scheme, separator, rest = text.partition("://")
    authority = rest.split("/", 1)[0]
    if not separator or "@" not in authority:
        return text
    return f"{scheme}://***@{authority.rsplit('@', 1)[1]}{rest[len(authority):]}"


def parse_proxy_url(text: str, source: str = "gateway.proxy") -> HttpProxy:
    """The proxy in `http://[user:password@]host[:port]`; ValueError says what is wrong."""
    shown = _redacted(text.strip())
    parts = urllib.parse.urlsplit(text.strip())
    if parts.scheme != "http":
        raise ValueError(f"{source} {shown!r} must start with http:// (the agent speaks plain "
                         "HTTP to the proxy; TLS runs inside the tunnel)")
    if not parts.hostname:
        raise ValueError(f"{source} {shown!r} names no host")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError as err:
        raise ValueError(f"{source} {shown!r} has an invalid port") from err
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{source} {shown!r} must be http://[user:password@]host:port "
                         "without a path")
    return HttpProxy(parts.hostname, port, urllib.parse.unquote(parts.username or ""),
                     urllib.parse.unquote(parts.password or ""), source)


def bypasses(host: str, no_proxy: str) -> bool:
    """True when `no_proxy` (comma-separated names, suffixes and CIDR blocks) covers `host`."""
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = \
            ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        address = None
    for raw in no_proxy.split(","):
        entry = raw.strip()
        if not entry:
            continue
        if host.lower().endswith(entry.lower()):
            return True
        if address is not None and "/" in entry:
            try:
                network = ipaddress.ip_network(entry, strict=False)
            except ValueError:
                continue
            if address.version == network.version and address in network:
                return True
    return False


def _first_set(environ: Mapping[str, str], names: tuple[str, ...]) -> tuple[str, str] | None:
    for name in names:
        if name in environ:
            return name, environ[name]
    return None


def proxy_for(host: str, configured: str = "",
              environ: Mapping[str, str] | None = None) -> HttpProxy | None:
    """The proxy to reach `host` through, None for a direct connection (gRPC's rules).

    A bad `configured` URL raises ValueError; a bad one in the environment is logged and
    ignored, as gRPC ignores it (both transports then go direct).
    """
    env = os.environ if environ is None else environ
    if configured:
        proxy = parse_proxy_url(configured)
    else:
        found = _first_set(env, PROXY_VARIABLES)
        if found is None or not found[1]:
            return None
        try:
            proxy = parse_proxy_url(found[1], source=found[0])
        except ValueError as err:
            log.error("%s; connecting without a proxy, as gRPC does", err)
            return None
    excluded = _first_set(env, NO_PROXY_VARIABLES)
    if excluded is not None and bypasses(host, excluded[1]):
        log.info("%s is listed in %s: not using proxy %s", host, excluded[0], proxy)
        return None
    return proxy


def _request(proxy: HttpProxy, host: str, port: int) -> bytes:
    target = _authority(host, port)
    lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
    if proxy.username or proxy.password:
        token = base64.b64encode(f"{proxy.username}:{proxy.password}".encode()).decode("ascii")
        lines.append(f"Proxy-Authorization: Basic {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def _read_answer(sock: socket.socket, proxy: HttpProxy) -> tuple[int, str]:
    """The status of the proxy's answer; reads the header only, never a byte of the tunnel."""
    header = b""
    while True:
        # Peek first: what follows the header belongs to the tunnel and must stay unread.
        seen = sock.recv(MAX_ANSWER_BYTES, socket.MSG_PEEK)
        if not seen:
            raise ProxyError(f"proxy {proxy} closed the connection without answering CONNECT")
        end = (header + seen).find(b"\r\n\r\n", max(0, len(header) - 3))
        wanted = end + 4 - len(header) if end >= 0 else len(seen)
        while wanted:
            chunk = sock.recv(wanted)
            if not chunk:
                raise ProxyError(f"proxy {proxy} closed the connection in its answer")
            header, wanted = header + chunk, wanted - len(chunk)
        if end >= 0:
            break
        if len(header) > MAX_ANSWER_BYTES:
            raise ProxyError(f"proxy {proxy} answered CONNECT with a header over "
                             f"{MAX_ANSWER_BYTES} bytes")
    status_line = header.split(b"\r\n", 1)[0].decode("latin-1")
    version, _, rest = status_line.partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/") or not code.isdigit():
        raise ProxyError(f"proxy {proxy} answered CONNECT with {status_line[:80]!r}, not HTTP")
    return int(code), reason.strip()


def open_tunnel(proxy: HttpProxy, host: str, port: int, timeout: float) -> socket.socket:
    """A socket connected through `proxy` to host:port (blocking; for paho's network thread)."""
    target = _authority(host, port)
    try:
        sock = socket.create_connection((proxy.host, proxy.port), timeout=timeout)
    except OSError as err:
        raise ProxyError(f"proxy {proxy} (from {proxy.source}) is unreachable: "
                         f"{err.strerror or err}") from err
    try:
        sock.sendall(_request(proxy, host, port))
        status, reason = _read_answer(sock, proxy)
    except TimeoutError as err:
        sock.close()
        raise ProxyError(f"proxy {proxy} did not answer CONNECT {target} within "
                         f"{timeout:g} s") from err
    except ProxyError:
        sock.close()
        raise
    except OSError as err:
        sock.close()
        raise ProxyError(f"proxy {proxy} dropped the connection during CONNECT {target}: "
                         f"{err.strerror or err}") from err
    if 200 <= status < 300:
        return sock
    sock.close()
    if status in (401, 407):  # 407 is the standard; tinyproxy answers 401 to wrong ones
        hint = ("it wants a user name and password: http://user:password@host:port in "
                f"{proxy.source}" if not (proxy.username or proxy.password)
                else f"it did not accept the user name and password in {proxy.source}")
    elif status == 403:
        hint = f"it does not allow tunnels to {target} (its allowed CONNECT ports?)"
    else:
        hint = "the tunnel was not opened"
    raise ProxyError(f"proxy {proxy} refused CONNECT {target}: {status} {reason}; {hint}")
