"""A real tinyproxy (Debian package `tinyproxy`) for the proxy tests: loopback only, CONNECT
allowed to the ports a test names, optionally behind Basic authentication."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from ..cloud.kit import free_tcp_port, wait_for


@dataclass(frozen=True)
class Tinyproxy:
    """A running tinyproxy: its port and its log."""

    port: int
    log: Path

    def url(self, credentials: str = "") -> str:
        """The proxy URL, with `user:password@` when given."""
        return f"http://{credentials + '@' if credentials else ''}127.0.0.1:{self.port}"

    def tunnels(self) -> list[tuple[str, int]]:
        """Every CONNECT target the proxy was asked for, in order (its log, LogLevel Connect)."""
        text = self.log.read_text() if self.log.exists() else ""
        return [(host, int(port)) for host, port in
                re.findall(r"Request \(file descriptor \d+\): CONNECT (\S+):(\d+) HTTP/1\.1",
                           text)]


@contextmanager
def tinyproxy(directory: Path, connect_ports: Sequence[int], *, basic_auth: str = "",
              port: int = 0) -> Iterator[Tinyproxy]:
    """tinyproxy on a loopback port (`port`, else a free one) that tunnels to `connect_ports`
    only; `basic_auth` "user password" makes it answer 407 to requests without them."""
    binary = shutil.which("tinyproxy") or "/usr/bin/tinyproxy"
    if not Path(binary).exists():
        pytest.fail("tinyproxy is missing: apt-get install tinyproxy (Makefile DEBS)")
    port = port or free_tcp_port()
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "tinyproxy.log"
    config = directory / "tinyproxy.conf"
    lines = [f"Port {port}", "Listen 127.0.0.1", "Timeout 60", f'LogFile "{log}"',
             "LogLevel Connect", "MaxClients 20", "Allow 127.0.0.1",
             *(f"ConnectPort {p}" for p in connect_ports)]
    if basic_auth:
        lines.append(f"BasicAuth {basic_auth}")
    config.write_text("\n".join(lines) + "\n")
    errors = directory / "tinyproxy.err"
    with errors.open("wb") as stderr:
        process = subprocess.Popen([binary, "-d", "-c", str(config)],
                                   stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        def accepting() -> bool:
            assert process.poll() is None, errors.read_text()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return True
            except OSError:
                return False

        wait_for(accepting, 60, f"tinyproxy on 127.0.0.1:{port}")
        yield Tinyproxy(port, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
