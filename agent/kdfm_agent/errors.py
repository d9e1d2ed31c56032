"""The agent's error tree: every raise says what went wrong and whether trying again can help.

`retryable` is read by the one place that decides on backoff (the session's retry loop and,
later, the scheduler); nothing else inspects exception types to decide.
"""

from __future__ import annotations


class AgentError(Exception):
    """Base of every error the agent raises on purpose."""

    retryable: bool = False


class ConfigError(AgentError):
    """A setting, target or credential given to the agent is invalid; fix it, do not retry."""


class ProfileError(AgentError):
    """A device profile is invalid (schema, unknown `extends:`, cycle); a packaging defect."""


class SnmpError(AgentError):
    """Talking SNMP to one device failed."""

    code: str = "snmp_error"

    def __init__(self, target: str, message: str, *, oid: str | None = None) -> None:
        super().__init__(f"{target}: {message}")
        self.target = target
        self.oid = oid


class SnmpTimeoutError(SnmpError):
    """The device did not answer within the timeout after every retry."""

    code = "timeout"
    retryable = True


class SnmpAuthError(SnmpError):
    """SNMPv3 authentication or privacy failed (wrong user, key or protocol)."""

    code = "auth"


class SnmpMalformedReplyError(SnmpError):
    """The device answered with something that is not valid SNMP (bad BER, wrong types)."""

    code = "malformed_reply"


class SnmpWalkLoopError(SnmpError):
    """A walk returned an OID that is not after the previous one: the agent would loop forever."""

    code = "walk_loop"


class SnmpWalkLimitError(SnmpError):
    """A walk returned more rows than the configured limit; the table is cut there."""

    code = "walk_limit"


class SnmpNoSuchNameError(SnmpError):
    """The device does not have the requested object (SNMPv1 noSuchName / v2 noSuchObject)."""

    code = "no_such_name"


class TargetRefusedError(SnmpError):
    """The send guard refused a packet to an address outside the configured targets."""

    code = "target_refused"
