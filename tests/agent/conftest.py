"""Agent test fixtures: a hostile UDP "device" (a test double for broken firmware, not for a
library)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

Responder = Callable[[bytes], bytes | None]
"""Given a request datagram, the datagram to answer (None = stay silent)."""


@dataclass
class HostileDevice:
    """A UDP socket on 127.0.0.1 answering with whatever `respond` returns; counts requests."""

    respond: Responder
    sock: socket.socket = field(init=False)
    received: int = 0

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            self.received += 1
            answer = self.respond(data)
            if answer is not None:
                self.sock.sendto(answer, peer)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.sock.close()


@pytest.fixture
def hostile_device() -> Iterator[Callable[[Responder], HostileDevice]]:
    devices: list[HostileDevice] = []

    def start(respond: Responder) -> HostileDevice:
        device = HostileDevice(respond)
        devices.append(device)
        return device

    try:
        yield start
    finally:
        for device in devices:
            device.close()
