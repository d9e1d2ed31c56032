"""What the running agent remembers per device: counters across polls and restarts (a 32-bit
wrap added back, a decrease flagged), the credential that answered, a silent fallback context.

The printer is a real recording served by snmpsim from a scratch directory, with its page counter
made writable (snmpsim's writecache variation), so the test moves the counter with a real SNMP
SET between two polls of a real agent talking to a real gateway.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness.snmpsim import SnmpSite, running_site
from kdfm_agent import credentials as creds
from kdfm_agent.counters import COUNTER32_MODULUS, DECREASED
from kdfm_agent.devices import DeviceMemory
from kdfm_agent.runner import snmp_reader
from kdfm_agent.settings import ReadSettings
from kdfm_agent.spool import Spool
from kdfm_agent.targets import parse_target
from kdfm_cloud.store import AgentKey, SqlRepository
from kdfm_proto.v1 import reading_pb2

from ..cloud.kit import Pki
from .runkit import agent, agent_settings, gateway, set_counter, stored_readings, wait_until

pytestmark = [pytest.mark.snmp, pytest.mark.e2e]

LIFE_COUNT = "1.3.6.1.2.1.43.10.2.1.4.1.1"
"""prtMarkerLifeCount.1.1, a Counter32."""
COUNTING = "ricoh-counting"
"""The Ricoh recording with a writable page counter."""
SILENT_CONTEXT = "hp-no-jetdirect"
"""An HP whose supplies live in context Jetdirect, which this device does not answer."""
NEAR_TOP = COUNTER32_MODULUS - 296


@pytest.fixture(scope="module")
def site(recordings_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnmpSite]:
    """snmpsim serving the two scratch recordings (v2c only)."""
    data = tmp_path_factory.mktemp("memory-recordings")
    ricoh = (recordings_dir / "ricoh_aficio-mp-c3002.snmprec").read_text()
    counter_line = next(line for line in ricoh.splitlines() if line.startswith(LIFE_COUNT + "|"))
    assert counter_line.startswith(f"{LIFE_COUNT}|65|"), counter_line  # 65: Counter32
    (data / f"{COUNTING}.snmprec").write_text(
        ricoh.replace(counter_line, f"{LIFE_COUNT}|65:writecache|value={NEAR_TOP}"))
    # Only the default-context file: the context file (community `...@Jetdirect`) is missing.
    (data / f"{SILENT_CONTEXT}.snmprec").write_text(
        (recordings_dir / "hp_supplies-context-test.snmprec").read_text())
    with running_site(data, v3_users=(), work_dir=tmp_path_factory.mktemp("memory-snmpsim")
                      ) as served:
        yield served


def _life_counts(readings: list[reading_pb2.Reading]) -> list[int]:
    return [c.value for r in readings for c in r.counters if c.source == LIFE_COUNT]


async def test_a_wrap_and_a_decrease_across_polls_and_a_restart(
        tmp_path: Path, pki: Pki, site: SnmpSite, sqlite_repository: SqlRepository) -> None:
    repository = sqlite_repository
    key = AgentKey(f"t-{uuid.uuid4().hex[:8]}", "agent-1")
    settings = agent_settings(tmp_path / "state", [site.endpoint()], COUNTING,
                              interval_seconds=1.0)
    endpoint = site.endpoint()
    await set_counter(endpoint, COUNTING, LIFE_COUNT, NEAR_TOP)

    def seen(value: int) -> list[reading_pb2.Reading]:
        return [r for r in stored_readings(repository, key.tenant)
                if value in _life_counts([r])]

    async with gateway(pki, repository) as address:
        async with agent(pki, key, address, settings):
            await wait_until(lambda: seen(NEAR_TOP), 120, "the counter near 2^32 uploaded")
            # The device prints 796 pages: its Counter32 passes 2^32 and starts from 0 again.
            await set_counter(endpoint, COUNTING, LIFE_COUNT, 500)
            [wrapped, *_] = await wait_until(lambda: seen(COUNTER32_MODULUS + 500), 60,
                                             "the wrapped counter carried over")
            assert not [e for e in wrapped.errors if e.code == DECREASED]

        # A restart keeps what the next comparison needs (the spool database).
        async with agent(pki, key, address, settings):
            await set_counter(endpoint, COUNTING, LIFE_COUNT, 700)
            await wait_until(lambda: seen(COUNTER32_MODULUS + 700), 60,
                             "the wrap still added after a restart")
            # A replaced controller board: the counter goes down without wrapping.
            await set_counter(endpoint, COUNTING, LIFE_COUNT, 100)
            [decreased, *_] = await wait_until(lambda: seen(100), 60, "the decreased counter")

    [finding] = [e for e in decreased.errors if e.code == DECREASED]
    assert finding.oid == LIFE_COUNT
    assert "went down from 700 to 100" in finding.message
    # Never a value that was neither raw nor correctly carried.
    counts = _life_counts(stored_readings(repository, key.tenant))
    assert set(counts) <= {NEAR_TOP, COUNTER32_MODULUS + 500, COUNTER32_MODULUS + 700, 100}, counts


async def test_the_credential_that_answered_is_tried_first_and_remembered(
        tmp_path: Path, site: SnmpSite) -> None:
    target = parse_target(site.endpoint())
    wrong, right = creds.Community("not-the-community"), creds.Community(COUNTING)
    read = ReadSettings(timeout_seconds=2.0, retries=0)
    with Spool(tmp_path / "spool.db") as spool:
        reader = snmp_reader(read, DeviceMemory(spool.connection))
        started = time.monotonic()
        first = await reader(target, [wrong, right])
        first_seconds = time.monotonic() - started
        assert first.credential == right.label and not first.errors
        assert first_seconds >= 2.0  # the wrong community cost its timeout
        started = time.monotonic()
        second = await reader(target, [wrong, right])
        second_seconds = time.monotonic() - started
        assert second.credential == right.label and not second.errors
    assert second_seconds < first_seconds - 1.0, (first_seconds, second_seconds)
    with Spool(tmp_path / "spool.db") as reopened:
        assert DeviceMemory(reopened.connection).credential(target.label) == right.label


async def test_a_silent_fallback_context_is_skipped_until_its_retry_is_due(
        tmp_path: Path, site: SnmpSite) -> None:
    target = parse_target(site.endpoint())
    credential = creds.Community(SILENT_CONTEXT)

    def context_errors(reading: object) -> list[str]:
        return [e.message for e in reading.errors  # type: ignore[attr-defined]
                if e.message.startswith("context 'Jetdirect':")]

    with Spool(tmp_path / "spool.db") as spool:
        memory = DeviceMemory(spool.connection)
        daily = snmp_reader(ReadSettings(timeout_seconds=1.0, retries=0), memory)
        started = time.monotonic()
        first = await daily(target, [credential])
        first_seconds = time.monotonic() - started
        assert first.identity.sys_object_id and context_errors(first)
        assert memory.context_failed_at(target.label) is not None
        started = time.monotonic()
        second = await daily(target, [credential])
        assert second.identity.sys_object_id == first.identity.sys_object_id
        assert context_errors(second) == []  # not asked: no timeout paid
        assert time.monotonic() - started < first_seconds - 0.5
        # Once the retry is due, the context is asked again (and still says nothing).
        due = snmp_reader(ReadSettings(timeout_seconds=1.0, retries=0,
                                       context_retry_seconds=0.001), memory)
        assert context_errors(await due(target, [credential]))
