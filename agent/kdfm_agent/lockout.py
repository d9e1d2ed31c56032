"""The agent's activation lockout: after 5 failed activation attempts it disables itself.

The state is a small JSON file in the state directory, written atomically so that a crash or a
kill -9 never leaves a half-written file that could re-enable a disabled agent. Only a
re-provision (`kdfm-agent reset`, or a fresh install) lifts it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from kdfm_agent.errors import AgentError
from kdfm_agent.identity import write_private

MAX_FAILED_ACTIVATIONS = 5
LOCKOUT_FILE = "lockout.json"


class AgentDisabledError(AgentError):
    """The agent disabled itself; it neither runs nor enrolls until it is re-provisioned."""


@dataclass(frozen=True, slots=True)
class Lockout:
    """Failed activation attempts so far, and whether the agent has disabled itself."""

    failed_attempts: int = 0
    disabled: bool = False
    reason: str | None = None
    disabled_at: str | None = None

    def after_failure(self, why: str, now: datetime | None = None) -> Lockout:
        """The state after one more refused activation; the 5th refusal disables the agent."""
        attempts = self.failed_attempts + 1
        if attempts < MAX_FAILED_ACTIVATIONS or self.disabled:
            return replace(self, failed_attempts=attempts)
        when = (now or datetime.now(UTC)).isoformat()
        return Lockout(
            failed_attempts=attempts, disabled=True, disabled_at=when,
            reason=(f"{attempts} failed activation attempts (last: {why}); the agent disabled "
                    "itself. Ask the dealer for a new activation code and run `kdfm-agent reset` "
                    "before enrolling again."),
        )


def _path(state_dir: Path) -> Path:
    return state_dir / LOCKOUT_FILE


def load(state_dir: Path) -> Lockout:
    """Read the lockout state; a missing file is a fresh agent, a corrupt one stays disabled."""
    path = _path(state_dir)
    try:
        raw = json.loads(path.read_text())
        return Lockout(
            failed_attempts=int(raw["failed_attempts"]), disabled=bool(raw["disabled"]),
            reason=raw.get("reason"), disabled_at=raw.get("disabled_at"),
        )
    except FileNotFoundError:
        return Lockout()
    except (ValueError, KeyError, TypeError) as err:
        # Deleting or garbling the file must not be a way around the lockout.
        return Lockout(failed_attempts=MAX_FAILED_ACTIVATIONS, disabled=True,
                       reason=f"lockout state {path} is unreadable ({err}); re-provision the agent")


def save(state_dir: Path, lockout: Lockout) -> None:
    """Write the state atomically (temp file, fsync, rename, fsync of the directory)."""
    write_private(_path(state_dir), json.dumps(asdict(lockout), indent=2).encode())


def record_failure(state_dir: Path, why: str) -> Lockout:
    """Count one refused activation and persist it before anything else happens."""
    lockout = load(state_dir).after_failure(why)
    save(state_dir, lockout)
    return lockout


def ensure_enabled(state_dir: Path) -> None:
    """Raise AgentDisabledError when the agent has disabled itself."""
    lockout = load(state_dir)
    if lockout.disabled:
        raise AgentDisabledError(lockout.reason or "the agent is disabled")


def clear(state_dir: Path) -> None:
    """Lift the lockout (re-provisioning)."""
    _path(state_dir).unlink(missing_ok=True)
