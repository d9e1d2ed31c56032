"""Child processes of the dev stack: free ports, start with a log file, poll for readiness, stop.

Every component runs in its own session (`start_new_session=True`) so that a Ctrl-C in the
terminal does not race our orderly shutdown, and so a background start survives its parent.
"""

from __future__ import annotations

import contextlib
import errno
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from kdfm_cloud.devstack.errors import DevstackError, StartupError

LOG_TAIL_LINES = 40
"""How many log lines a start-up error quotes."""


def free_port(host: str = "127.0.0.1", *, kind: int = socket.SOCK_STREAM) -> int:
    """A port that was free a moment ago on `host` (TCP by default, UDP with SOCK_DGRAM).

    The port is released before returning, so a caller must still handle a lost race; launchers
    retry start-up with a new port on "address in use".
    """
    for _ in range(20):
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind((host, 0))
            except OSError as err:
                if err.errno == errno.EADDRINUSE:
                    continue
                raise
            port: int = sock.getsockname()[1]
            return port
    raise DevstackError(f"no free {_kind_name(kind)} port found on {host} after 20 tries")


def free_port_pair(host: str = "127.0.0.1") -> int:
    """A TCP port `p` such that `p` and `p + 1` were both free (OpenBao's API and cluster port)."""
    for _ in range(50):
        port = free_port(host)
        if port < 65535 and port_is_free(host, port + 1):
            return port
    raise DevstackError(f"no two adjacent free TCP ports found on {host} after 50 tries")


def port_is_free(host: str, port: int, *, kind: int = socket.SOCK_STREAM) -> bool:
    """Whether `port` on `host` can be bound right now."""
    with socket.socket(socket.AF_INET, kind) as sock:
        # Servers set SO_REUSEADDR too: a port whose old connections sit in TIME_WAIT is free
        # for them, and must look free here, or a restart on the same port waits a minute.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _kind_name(kind: int) -> str:
    return "UDP" if kind == socket.SOCK_DGRAM else "TCP"


def write_secret_file(path: Path, secret: str) -> Path:
    """Write `secret` and a newline to `path`, readable by its owner only (0600); the path."""
    # The mode before the secret: the file is never readable by others, not even briefly.
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(secret + "\n")
    return path


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last `lines` lines of a log file, or a note that there is none."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"(no log file at {path})"
    return "\n".join(text.splitlines()[-lines:])


def wait_until(
    probe: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    interval: float = 0.1,
    alive: Callable[[], bool] | None = None,
    log_path: Path | None = None,
) -> None:
    """Poll `probe` until it returns True; raise StartupError with the log tail otherwise.

    `alive` lets the wait stop early when the process under test has already exited, so a
    broken configuration fails in a second instead of after the whole timeout.
    """
    deadline = time.monotonic() + timeout
    while True:
        if probe():
            return
        if alive is not None and not alive():
            raise StartupError(f"{what}: the process exited before it was ready\n{_tail(log_path)}")
        if time.monotonic() >= deadline:
            raise StartupError(f"{what}: not ready after {timeout:.0f} s\n{_tail(log_path)}")
        time.sleep(interval)


def _tail(log_path: Path | None) -> str:
    if log_path is None:
        return ""
    return f"--- last lines of {log_path} ---\n{log_tail(log_path)}"


@dataclass
class Process:
    """A child process started in its own session with stdout and stderr in a log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        """The process id of the child."""
        return self.popen.pid

    def alive(self) -> bool:
        """Whether the child is still running."""
        return self.popen.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after `timeout` seconds; always reaps the child."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self.popen.kill()
                self.popen.wait(timeout)
        self.popen.wait()

    def startup_error(self, problem: str) -> StartupError:
        """A StartupError for this process that quotes its log tail."""
        return StartupError(f"{self.name}: {problem}\n{_tail(self.log_path)}")


def start_process(
    name: str,
    argv: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> Process:
    """Start `argv` in a new session, appending its output to `log_path`.

    `user` runs the child as that account (root only), e.g. PostgreSQL, which refuses root.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    with log_path.open("ab") as log:
        try:
            popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=full_env,
                cwd=cwd,
                start_new_session=True,
                user=user,
                group=_primary_group(user),
            )
        except OSError as err:
            raise StartupError(f"{name}: cannot execute {argv[0]}: {err}") from err
    return Process(name=name, popen=popen, log_path=log_path)


def _primary_group(user: str | None) -> int | None:
    if user is None:
        return None
    return pwd.getpwnam(user).pw_gid


def write_pid_file(path: Path, pid: int) -> None:
    """Record a background process so a later `stop_pid_file` can end it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{pid}\n")


def stop_pid_file(path: Path, timeout: float = 10.0) -> bool:
    """Stop the process recorded in `path` (SIGTERM, then SIGKILL); False if none was running.

    The pid file is removed either way, so a stale file never blocks the next start.
    """
    try:
        pid = int(path.read_text().strip())
    except FileNotFoundError:
        return False
    except ValueError as err:
        path.unlink(missing_ok=True)
        raise DevstackError(f"pid file {path} does not hold a process id") from err
    try:
        stopped = _terminate(pid, timeout)
    finally:
        path.unlink(missing_ok=True)
    return stopped


def _terminate(pid: int, timeout: float) -> bool:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_running(pid):
            return True
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return True


def pid_running(pid: int) -> bool:
    """Whether the process runs; a zombie (exited, not reaped yet) does not."""
    # A background child of an exited parent is reaped by init; until then it is a zombie,
    # which counts as stopped.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"
