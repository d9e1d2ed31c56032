"""Finding printers: expand scan specs, probe each address with the credentials in order.

A device is a printer when it answers the Printer-MIB or hrPrinterTable, or when a profile
claims its sysObjectID. The send guard is built from the expanded addresses minus the
exclusions, so an excluded address is never sent a packet even by mistake.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from kdfm_agent import decode
from kdfm_agent.credentials import Community, Credential
from kdfm_agent.errors import SnmpError, SnmpTimeoutError, SnmpWalkLimitError
from kdfm_agent.profile import Profile, builtin_profiles, select
from kdfm_agent.snmp import SessionSettings, open_session
from kdfm_agent.snmp import printer_mib as mib
from kdfm_agent.snmp.session import SnmpSession, SnmpValue
from kdfm_agent.snmp.sweep import SweepSettings, sweep
from kdfm_agent.targets import (
    SendGuard,
    Target,
    expand_spec,
    literal_address,
    parse_target,
    resolve,
)

_T = TypeVar("_T")

PRINTER_EVIDENCE = {mib.PRINTER_MIB: "printer_mib", mib.HR_PRINTER_TABLE: "hr_printer"}
"""Printer-MIB and hrPrinterTable: any row under either means the device is a printer.

Looked at in this order; the value is the `ScanResult.reason` such a row gives.
"""


@dataclass(frozen=True, slots=True)
class ScanResult:
    """What one address turned out to be."""

    address: str
    port: int
    hostname: str | None = None
    answered: bool = False
    printer: bool = False
    reason: str = "no_answer"
    credential: str | None = None
    sys_object_id: str | None = None
    sys_descr: str | None = None
    profile: str | None = None
    error: str | None = None


async def expand(specs: Iterable[str], excludes: Iterable[str], port: int) -> list[Target]:
    """Every address the specs cover, hostnames resolved, exclusions removed, in order."""
    excluded = {t.address for t in await _targets(excludes, port)}
    seen: set[str] = set()
    targets = []
    for target in await _targets(specs, port):
        if target.address in excluded or target.address in seen:
            continue
        assert target.address is not None  # _targets resolves every one
        seen.add(target.address)
        targets.append(target)
    return targets


async def _targets(specs: Iterable[str], port: int) -> list[Target]:
    targets: list[Target] = []
    for spec in specs:
        addresses = expand_spec(spec)
        if addresses is not None:
            targets.extend(Target(str(a), port, str(a)) for a in addresses)
        else:
            targets.append(await resolve(parse_target(spec, port)))
    return targets


async def probe(
    target: Target,
    credentials: Iterable[Credential],
    settings: SessionSettings,
    guard: SendGuard,
    profiles: Mapping[str, Profile] | None = None,
) -> ScanResult:
    """Try each credential until one answers; then decide whether the device is a printer."""
    assert target.address is not None
    hostname = _hostname(target)
    last_error: str | None = None
    for credential in credentials:
        try:
            async with open_session(target, credential, settings, guard=guard) as session:
                system = await session.get_many([mib.SYS_OBJECT_ID, mib.SYS_DESCR])
                if mib.SYS_OBJECT_ID not in system:
                    continue
                evidence = await _printer_evidence(session)
        except SnmpTimeoutError as err:
            last_error = str(err)  # wrong community or nobody there: try the next credential
            continue
        except SnmpError as err:
            last_error = str(err)
            continue
        return _result(target, credential, system, evidence, profiles)
    return ScanResult(address=target.address, port=target.port, hostname=hostname, error=last_error)


def _result(
    target: Target,
    credential: Credential,
    system: Mapping[str, SnmpValue],
    evidence: str | None,
    profiles: Mapping[str, Profile] | None,
) -> ScanResult:
    """What an address that answered `credential` is, from its system group and printer evidence."""
    assert target.address is not None
    hostname = _hostname(target)
    sys_object_id = decode.oid(system.get(mib.SYS_OBJECT_ID))
    sys_descr = decode.text(system.get(mib.SYS_DESCR))
    profile = select(profiles or builtin_profiles(), sys_object_id, sys_descr)
    claimed = (
        profile is not None
        and sys_object_id is not None
        and (profile.object_id_match(sys_object_id) > 0)
    )
    reason = evidence or ("profile_sys_object_id" if claimed else "not_a_printer")
    return ScanResult(
        address=target.address, port=target.port, hostname=hostname, answered=True,
        printer=bool(evidence) or claimed, reason=reason, credential=credential.label,
        sys_object_id=sys_object_id, sys_descr=sys_descr,
        profile=profile.name if profile else None,
    )  # fmt: skip


def _from_sweep(
    target: Target,
    credential: Credential,
    reply: Mapping[str, SnmpValue],
    profiles: Mapping[str, Profile],
) -> ScanResult | None:
    """The result told by the sweep's reply alone; None when it lacks sysObjectID (check by
    session: an SNMPv1 error reply, or firmware that answered something else)."""
    if reply.get(mib.SYS_OBJECT_ID) is None:
        return None
    evidence = None
    for root, reason in PRINTER_EVIDENCE.items():
        if any(oid.startswith(root + ".") for oid in reply):
            evidence = reason
            break
    return _result(target, credential, reply, evidence, profiles)


async def _printer_evidence(session: SnmpSession) -> str | None:
    for root, reason in PRINTER_EVIDENCE.items():
        try:
            rows = await session.walk(root, max_rows=1)
        except SnmpWalkLimitError:
            rows = [("", None)]  # more than one row is evidence too
        if rows:
            return reason
    return None


def _hostname(target: Target) -> str | None:
    """The name the target was given by, None when it was given as an address."""
    return None if literal_address(target.host) is not None else target.host


async def _later(delay: float, load: Callable[[], _T]) -> _T:
    await asyncio.sleep(delay)
    return await asyncio.to_thread(load)


async def _sweep_communities(
    targets: list[Target],
    credentials: list[Credential],
    sweep_settings: SweepSettings,
    guard: SendGuard,
) -> tuple[dict[tuple[str, int], Credential], dict[tuple[str, int], Mapping[str, SnmpValue]]]:
    """Which community each (address, port) answered first, and that reply."""
    answered_with: dict[tuple[str, int], Credential] = {}
    swept: dict[tuple[str, int], Mapping[str, SnmpValue]] = {}
    for credential in credentials:
        if not isinstance(credential, Community):
            continue
        by_port: dict[int, list[str]] = {}
        for target in targets:
            assert target.address is not None  # for_targets checked
            if (target.address, target.port) not in answered_with:
                by_port.setdefault(target.port, []).append(target.address)
        for port, addresses in by_port.items():
            replies = await sweep(addresses, credential, port, sweep_settings, guard)
            for address, reply in replies.items():
                answered_with[(address, port)] = credential
                swept[(address, port)] = reply
    return answered_with, swept


async def scan(
    targets: list[Target],
    credentials: list[Credential],
    settings: SessionSettings,
    *,
    concurrency: int = 64,
    progress: Callable[[int, int], None] | None = None,
    sweep_settings: SweepSettings | None = None,
) -> list[ScanResult]:
    """Probe every target, at most `concurrency` sessions at a time; results in target order.

    Communities are tried first by a sweep (one socket, every address at once, `retries + 1`
    datagrams per silent address) whose reply already tells a printer; only SNMPv3 users for
    addresses no community reached, and replies that lacked sysObjectID, get a session. So a
    silent address costs its probes and a printer one round trip.
    """
    guard = SendGuard.for_targets(targets)
    sweep_settings = sweep_settings or SweepSettings(
        timeout=settings.timeout, retries=settings.retries
    )
    # The profiles (YAML parsing and schema checks, ~0.1 s of CPU) are needed only to name what
    # answered: they load in a thread while the sweep waits for replies, once the first probes
    # are out (sharing the interpreter with the sending would stretch every address's clock).
    swept_at_all = any(isinstance(c, Community) for c in credentials)
    first_round = len(targets) / sweep_settings.probes_per_second if swept_at_all else 0.0
    profiles_loading = asyncio.ensure_future(_later(first_round, builtin_profiles))
    try:
        answered_with, swept = await _sweep_communities(targets, credentials, sweep_settings, guard)
    except BaseException:
        profiles_loading.cancel()
        raise
    users = [c for c in credentials if not isinstance(c, Community)]
    profiles = await profiles_loading
    semaphore = asyncio.Semaphore(concurrency)
    done = 0
    silent = (
        f"no reply within {sweep_settings.timeout:g} s after {sweep_settings.retries + 1} tries"
    )

    async def one(target: Target) -> ScanResult:
        nonlocal done
        assert target.address is not None
        credential = answered_with.get((target.address, target.port))
        to_try = [credential] if credential is not None else users
        known = None
        if credential is not None:
            reply = swept[(target.address, target.port)]
            known = _from_sweep(target, credential, reply, profiles)
        if known is not None:
            result = known
        elif to_try:
            async with semaphore:
                result = await probe(target, to_try, settings, guard, profiles)
        else:
            hostname = _hostname(target)
            result = ScanResult(address=target.address, port=target.port, hostname=hostname,
                                error=f"{target.label}: {silent}")  # fmt: skip
        done += 1
        if progress is not None:
            progress(done, len(targets))
        return result

    return list(await asyncio.gather(*(one(t) for t in targets)))
