"""SNMP sessions: one interface (`SnmpSession`), two back ends (gufo-snmp, pysnmp 7).

`open_session` picks the back end: gufo by default (fast, asyncio, no SNMPv3 context name), pysnmp
when an SNMPv3 context is needed or when asked for explicitly (the reference implementation).
"""

from __future__ import annotations

from kdfm_agent.credentials import Credential, UsmUser
from kdfm_agent.snmp.session import Backend, SessionSettings, SnmpSession, SnmpValue
from kdfm_agent.targets import SendGuard, Target

__all__ = ["Backend", "SessionSettings", "SnmpSession", "SnmpValue", "open_session"]


def open_session(
    target: Target,
    credential: Credential,
    settings: SessionSettings | None = None,
    *,
    guard: SendGuard | None = None,
) -> SnmpSession:
    """A session for `target` (use it with `async with`), on the back end the settings name."""
    settings = settings or SessionSettings()
    backend = settings.backend
    if isinstance(credential, UsmUser) and credential.context:
        # gufo-snmp 0.13 cannot put a contextName in a v3 scoped PDU.
        backend = Backend.PYSNMP
    # Each back end is imported on first use: pysnmp alone takes ~150 ms and 20 MB to import, which
    # an agent that never needs an SNMPv3 context should not pay at every start.
    if backend is Backend.PYSNMP:
        from kdfm_agent.snmp.pysnmp_backend import PysnmpSession  # noqa: PLC0415

        return PysnmpSession(target, credential, settings, guard=guard)
    from kdfm_agent.snmp.gufo_backend import GufoSession  # noqa: PLC0415

    return GufoSession(target, credential, settings, guard=guard)
