"""The agent as a background process where no systemd runs: pid file, log file, start, stop.

`kdfm-agent ctl` (commands/ctl.py) is the command line; this module holds the mechanics. The
agent runs `python -m kdfm_agent.cli run --config FILE` in a session of its own, so it survives
the shell (or Ansible's SSH connection) that started it and receives no SIGHUP from it.
"""

from __future__ import annotations

import contextlib
import enum
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from kdfm_agent.errors import AgentError

PID_FILE = "kdfm-agent.pid"
LOG_FILE = "kdfm-agent.log"
READY_FILE = "kdfm-agent.ready"
_POLL_SECONDS = 0.1
_LOG_TAIL_LINES = 20


class DaemonError(AgentError):
    """Starting or stopping the background agent failed; the message says what to look at."""


class Health(enum.IntEnum):
    """Whether the background agent runs; the values are the LSB `status` exit codes."""

    RUNNING = 0
    """The process in the pid file is alive and is this agent."""
    DEAD = 1
    """A pid file exists but its process is gone (it crashed or was killed)."""
    STOPPED = 3
    """No pid file: the agent is not running."""


@dataclass(frozen=True, slots=True)
class DaemonSettings:
    """Where the background agent keeps its pid and log file, and how patient start and stop are."""

    config: Path = Path("/etc/kdfm-agent/agent.yml")
    """The configuration file the agent runs with."""
    state_dir: Path = Path("/var/lib/kdfm-agent")
    """Directory of the pid file and the log file (the agent's state directory)."""
    start_timeout_seconds: float = 60.0
    """Seconds a new agent has to say it is ready (config, identity and spool loaded, loops
    running) before `start` gives up, stops it and fails."""
    stop_timeout_seconds: float = 30.0
    """Seconds to wait after SIGTERM before the agent is killed with SIGKILL."""

    @property
    def pid_file(self) -> Path:
        """The file holding the running agent's process id."""
        return self.state_dir / PID_FILE

    @property
    def ready_file(self) -> Path:
        """The file the agent writes once it runs (`kdfm-agent run --ready-file`)."""
        return self.state_dir / READY_FILE

    @property
    def log_file(self) -> Path:
        """The file the agent's standard output and error are appended to."""
        return self.state_dir / LOG_FILE


def read_pid(pid_file: Path) -> int | None:
    """The process id in `pid_file`; None when there is no file or it holds no number."""
    try:
        text = pid_file.read_text(encoding="ascii").strip()
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() and int(text) > 0 else None


def _is_agent(pid: int) -> bool:
    # A live process that is a `kdfm_agent.cli run`: a pid reused by another program after a
    # crash must never be reported as the agent (or be killed by `stop`).
    proc = Path("/proc") / str(pid)
    try:
        stat = (proc / "stat").read_text()
        argv = (proc / "cmdline").read_bytes().split(b"\0")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    # The state letter follows the parenthesised command name; a zombie has exited already.
    if stat.rpartition(")")[2].split()[:1] == ["Z"]:
        return False
    return b"kdfm_agent.cli" in argv and b"run" in argv


def health(settings: DaemonSettings) -> tuple[Health, int | None]:
    """Whether the agent runs, and its process id when it does."""
    pid = read_pid(settings.pid_file)
    if pid is None:
        return (Health.DEAD, None) if settings.pid_file.exists() else (Health.STOPPED, None)
    return (Health.RUNNING, pid) if _is_agent(pid) else (Health.DEAD, pid)


def _write_pid_file(path: Path, pid: int) -> None:
    # Written beside and renamed, so a reader never sees a half-written number.
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(f"{pid}\n", encoding="ascii")
    partial.replace(path)


def log_tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    """The last lines of the agent's log, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"(no log file at {path})"
    return "\n".join(text.splitlines()[-lines:])


def start(settings: DaemonSettings) -> tuple[bool, int]:
    """Start the agent unless it runs; (whether it was started now, its process id)."""
    state, pid = health(settings)
    if state is Health.RUNNING and pid is not None:
        return False, pid
    settings.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    settings.ready_file.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "kdfm_agent.cli", "run", "--config", str(settings.config),
            "--ready-file", str(settings.ready_file)]
    with open(settings.log_file, "ab") as log, open(os.devnull, "rb") as devnull:
        process = subprocess.Popen(argv, stdin=devnull, stdout=log, stderr=log,
                                   start_new_session=True, cwd="/")
    _write_pid_file(settings.pid_file, process.pid)
    # A handshake, not a grace period: on a loaded machine a broken agent may take longer than
    # any fixed wait to fail, and a good one longer to start.
    deadline = time.monotonic() + settings.start_timeout_seconds
    while not settings.ready_file.exists():
        code = process.poll()
        if code is not None:
            settings.pid_file.unlink(missing_ok=True)
            raise DaemonError(
                f"the agent exited with status {code} right after start; last lines of "
                f"{settings.log_file}:\n{log_tail(settings.log_file)}")
        if time.monotonic() > deadline:
            stop(settings)
            raise DaemonError(
                f"the agent did not get ready within {settings.start_timeout_seconds:.0f} s and "
                f"was stopped; last lines of {settings.log_file}:\n{log_tail(settings.log_file)}")
        time.sleep(_POLL_SECONDS)
    return True, process.pid


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _is_agent(pid):
            return True
        time.sleep(_POLL_SECONDS)
    return not _is_agent(pid)


def stop(settings: DaemonSettings) -> bool:
    """Stop the agent (SIGTERM, then SIGKILL after the timeout); whether one was running."""
    state, pid = health(settings)
    if state is not Health.RUNNING or pid is None:
        settings.pid_file.unlink(missing_ok=True)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not _wait_gone(pid, settings.stop_timeout_seconds):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        if not _wait_gone(pid, 10.0):
            raise DaemonError(f"agent process {pid} survived SIGKILL; it is stuck in the kernel "
                              "(uninterruptible I/O?) and needs a look at the host")
    settings.pid_file.unlink(missing_ok=True)
    return True
