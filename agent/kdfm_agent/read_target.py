"""Reading one target: each credential in turn until one answers, fallback contexts included.

Shared by `kdfm-agent read` and the running agent, which adds what it remembers of the device
(the credential that answered last goes first; a silent context is skipped for a while).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from kdfm_agent import model
from kdfm_agent.collect import collect, context_timed_out
from kdfm_agent.credentials import Credential
from kdfm_agent.errors import SnmpError
from kdfm_agent.snmp import SessionSettings, open_session
from kdfm_agent.snmp.session import SnmpSession
from kdfm_agent.targets import SendGuard, Target


@dataclass(frozen=True, slots=True)
class TargetRead:
    """A target's reading and what it tells about the credentials and contexts tried."""

    reading: model.Reading
    """The reading; every failure is inside it as a `DeviceError`."""
    credential: Credential | None = None
    """The credential the device answered (a sysObjectID came back); None: none did."""
    contexts: tuple[str, ...] = ()
    """Fallback SNMP contexts tried with the credential that gave `reading`."""
    silent: tuple[str, ...] = ()
    """Those of `contexts` that did not answer."""


async def read_target(
    target: Target,
    credentials: Sequence[Credential],
    settings: SessionSettings,
    guard: SendGuard | None,
    *,
    try_context: bool = True,
) -> TargetRead:
    """Read `target` with the credentials in order; a fallback context only if `try_context`."""
    last: SnmpError | None = None
    for credential in credentials:
        tried: list[str] = []

        def open_context(context: str, credential: Credential = credential,
                         tried: list[str] = tried) -> SnmpSession:
            tried.append(context)
            return open_session(target, credential.with_context(context), settings, guard=guard)

        try:
            async with open_session(target, credential, settings, guard=guard) as session:
                reading = await collect(
                    session, open_context=open_context if try_context else None,
                    hostname=target.host if target.host != target.address else None)
        except SnmpError as err:
            last = err
            continue
        # A wrong community is silently ignored by SNMP agents: no sysObjectID, next one.
        answered = reading.identity.sys_object_id is not None
        if not answered and credential is not credentials[-1]:
            continue
        return TargetRead(
            reading,
            credential if answered else None,
            tuple(tried),
            tuple(c for c in tried if context_timed_out(reading, c)),
        )
    code = last.code if last else "no_answer"
    return TargetRead(
        failed_reading(target, code, str(last) if last else "no credential got an answer")
    )


def failed_reading(target: Target, code: str, message: str) -> model.Reading:
    """A reading of `target` holding nothing but the error that prevented it."""
    return model.Reading(
        reading_id=str(uuid.uuid4()),
        target=target.label,
        collected_at=datetime.now(UTC),
        errors=(model.DeviceError(code=code, message=message),),
        address=target.address,
    )
