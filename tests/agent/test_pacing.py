"""The adaptive device limit: which round trips grow and shrink it, what a session reports."""

from __future__ import annotations

import asyncio

import pytest
from kdfm_agent.credentials import Community
from kdfm_agent.errors import ConfigError
from kdfm_agent.snmp import Backend, SessionSettings, open_session
from kdfm_agent.snmp.pacing import AdaptiveLimiter, PacingSettings
from kdfm_agent.targets import Target


def _rounds(limiter: AdaptiveLimiter, seconds: float, rounds: int) -> None:
    """`rounds` rounds of replies, each as many as there are devices in flight."""
    for _ in range(rounds):
        for _ in range(int(limiter.limit)):
            limiter.observe(seconds)


def test_slow_start_reaches_the_ceiling_in_a_few_rounds() -> None:
    limiter = AdaptiveLimiter(PacingSettings(ceiling=64, initial=8))
    _rounds(limiter, 0.0005, 3)  # 8 -> 16 -> 32 -> 64
    assert limiter.limit == 64
    assert limiter.answered == 8 + 16 + 32


def test_sub_millisecond_replies_slowed_by_the_agent_itself_do_not_shrink_the_limit() -> None:
    # On a LAN the fastest reply takes 0.1 ms and, with 64 devices in flight, a single-threaded
    # agent hands each reply over some milliseconds later: 30 times the minimum, yet no queue
    # that could make a reply miss its timeout.
    limiter = AdaptiveLimiter(PacingSettings(ceiling=64, initial=8))
    limiter.observe(0.0001)
    _rounds(limiter, 0.003, 20)
    assert limiter.limit == 64


def test_real_queueing_shrinks_the_limit_and_ends_slow_start() -> None:
    limiter = AdaptiveLimiter(PacingSettings(ceiling=64, initial=32))
    _rounds(limiter, 0.002, 1)
    assert limiter.limit == 64
    _rounds(limiter, 0.5, 3)  # the smoothed round trip climbs far above minimum + 0.1 s
    shrunk = limiter.limit
    assert shrunk < 64
    _rounds(limiter, 0.002, 30)  # once queueing was seen the limit grows by one a round
    assert limiter.limit > shrunk
    assert limiter.limit <= shrunk + 30


def test_a_timeout_halves_the_limit_and_is_counted() -> None:
    limiter = AdaptiveLimiter(PacingSettings(ceiling=64, initial=8, floor=2))
    _rounds(limiter, 0.001, 3)
    limiter.timed_out()
    assert limiter.limit == 32
    assert limiter.timeouts == 1
    for _ in range(10):
        limiter.timed_out()
    assert limiter.limit == 2  # never below the floor


def test_queueing_delay_must_not_be_negative() -> None:
    with pytest.raises(ConfigError, match="queueing_delay must be 0 or more"):
        PacingSettings(queueing_delay=-1.0)


def test_the_limit_holds_devices_back_and_lets_them_in_as_it_grows() -> None:
    async def main() -> tuple[int, int]:
        limiter = AdaptiveLimiter(PacingSettings(ceiling=16, initial=2, floor=1))
        release = asyncio.Event()
        entered = 0

        async def device() -> None:
            nonlocal entered
            async with limiter.slot():
                entered += 1
                await release.wait()

        tasks = [asyncio.create_task(device()) for _ in range(10)]
        for _ in range(50):
            await asyncio.sleep(0)
        before = entered
        _rounds(limiter, 0.001, 1)  # slow start: 2 -> 4
        for _ in range(50):
            await asyncio.sleep(0)
        after = entered
        release.set()
        await asyncio.gather(*tasks)
        return before, after

    assert asyncio.run(main()) == (2, 4)


@pytest.mark.snmp
def test_a_community_session_reports_only_requests_that_were_sent(snmp_site) -> None:
    # Opening a v2c session sends nothing; a "round trip" reported for it would set the minimum
    # to microseconds and make every real reply look queued.
    async def main() -> AdaptiveLimiter:
        limiter = AdaptiveLimiter(PacingSettings(ceiling=8, initial=2))
        target = Target(snmp_site.host, snmp_site.port, snmp_site.host)
        settings = SessionSettings(timeout=5, backend=Backend.GUFO)
        community = Community("hp_color-laserjet-m452nw")
        async with limiter.slot(), open_session(target, community, settings) as session:
            assert limiter.answered == 0
            await session.get("1.3.6.1.2.1.1.2.0")
        return limiter

    limiter = asyncio.run(main())
    assert limiter.answered == 1
    assert limiter.round_trip is not None and limiter.round_trip > 0
