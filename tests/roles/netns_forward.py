"""Make loopback TCP services of this machine appear on the loopback of network-namespace sites.

The dev stack (gateway, enrolment endpoint, broker) listens on 127.0.0.1 only, and its server
certificates name 127.0.0.1 and localhost only; an agent inside a site namespace has a loopback
of its own. So for every site and port, a socket is opened *inside* the site's namespace on
127.0.0.1:<port> (a short-lived thread enters the namespace with setns(2), creates the socket
and leaves; a socket stays in the namespace it was created in), and one asyncio loop in this
process, in the root namespace, accepts on all of them and connects each accepted stream to
127.0.0.1:<same port> here. Addresses, ports and certificate names are the same for the agent
as on this machine, and no service is exposed on the bridge.

Linux only, needs CAP_SYS_ADMIN (root), like the namespaces themselves.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import socket
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

CLONE_NEWNET = 0x40000000
LOOPBACK = "127.0.0.1"
READY_TIMEOUT = 30.0
"""Seconds to wait until the forwarding loop listens on every socket."""
CHUNK = 65536


class ForwardError(RuntimeError):
    """A forwarding into a site namespace could not be set up."""


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise ForwardError(f"setns(CLONE_NEWNET) failed: {os.strerror(err)}")


def listen_in_namespace(netns: str, ports: Sequence[int]) -> list[socket.socket]:
    """Listening TCP sockets on 127.0.0.1:<port> inside namespace `netns`, one per port."""
    made: list[socket.socket] = []
    problems: list[BaseException] = []

    def work() -> None:
        # setns changes only this thread, which ends right after: the caller never moves.
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(f"/run/netns/{netns}", os.O_RDONLY)
        try:
            _setns(target)
            try:
                for port in ports:
                    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    sock.bind((LOOPBACK, port))
                    sock.listen(64)
                    sock.setblocking(False)
                    made.append(sock)
            finally:
                _setns(own)
        except BaseException as err:
            problems.append(err)
        finally:
            os.close(own)
            os.close(target)

    thread = threading.Thread(target=work, name=f"listen-in-{netns}")
    thread.start()
    thread.join()
    if problems:
        for sock in made:
            sock.close()
        raise ForwardError(f"cannot listen on {LOOPBACK}:{list(ports)} in namespace {netns}: "
                           f"{problems[0]}") from problems[0]
    return made


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def _relay(port: int, inner_reader: asyncio.StreamReader,
                 inner_writer: asyncio.StreamWriter) -> None:
    try:
        outer_reader, outer_writer = await asyncio.open_connection(LOOPBACK, port)
    except OSError:
        inner_writer.close()
        return
    await asyncio.gather(_pump(inner_reader, outer_writer), _pump(outer_reader, inner_writer))


class _Loop:
    def __init__(self, sockets: Sequence[socket.socket]) -> None:
        self.sockets = sockets
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.stop: asyncio.Event | None = None
        self.problem: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="netns-forward", daemon=True)

    def _run(self) -> None:
        self.loop.run_until_complete(self._main())
        self.loop.close()

    async def _main(self) -> None:
        self.stop = asyncio.Event()
        servers = []
        try:
            for sock in self.sockets:
                port = sock.getsockname()[1]

                async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                                 port: int = port) -> None:
                    await _relay(port, reader, writer)

                servers.append(await asyncio.start_server(handle, sock=sock))
        except BaseException as err:
            self.problem = err
        self.ready.set()
        if self.problem is None:
            await self.stop.wait()
        for server in servers:
            server.close()
        # Relays still open (agents keep their connections) are cancelled, not left to a closed
        # loop; their writers close in _pump's finally while the loop still runs.
        relays = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in relays:
            task.cancel()
        await asyncio.gather(*relays, return_exceptions=True)

    def shutdown(self) -> None:
        if self.stop is not None:
            self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(timeout=30)


@contextmanager
def forwarded_into(netns_names: Sequence[str], ports: Sequence[int]) -> Iterator[None]:
    """While open, 127.0.0.1:<port> in every namespace reaches 127.0.0.1:<port> here."""
    sockets: list[socket.socket] = []
    try:
        for netns in netns_names:
            sockets += listen_in_namespace(netns, ports)
        loop = _Loop(sockets)
        loop.thread.start()
        try:
            if not loop.ready.wait(READY_TIMEOUT):
                raise ForwardError(f"the forwarding loop did not start within {READY_TIMEOUT} s")
            if loop.problem is not None:
                raise ForwardError(f"the forwarding loop failed: {loop.problem}") from loop.problem
            yield
        finally:
            loop.shutdown()
    finally:
        for sock in sockets:
            sock.close()
