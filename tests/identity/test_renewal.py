"""The running agent renews its certificate over mutual TLS before it expires, also when Vault
was down at the moment renewal was due (real OpenBao, stopped and started again)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kdfm_agent import enroll, identity
from kdfm_agent.runner import Runner, resolve_uplink
from kdfm_agent.settings import AgentSettings, PollSettings
from kdfm_cloud.devstack.openbao import OpenBaoServer, Vault
from kdfm_cloud.gateway.server import running_gateway
from kdfm_cloud.store import AgentKey

from ..uplink.runkit import wait_until
from .kit import TrustKit, make_kit

pytestmark = [pytest.mark.vault, pytest.mark.slow]

TTL = "45s"
"""Vault back-dates certificates by 30 s, so they live 75 s and renew 20 s after issue."""


def _serial(state: Path) -> int:
    loaded = identity.load_identity(state)
    assert loaded is not None
    return loaded.certificate.serial_number


@asynccontextmanager
async def enrolled_agent(kit: TrustKit, state: Path) -> AsyncIterator[Runner]:
    """A gateway, an agent enrolled through it, and the agent's run loop (stopped after)."""
    code = kit.tenant_with_code("renewing")
    async with running_gateway(kit.settings, kit.repository, signer=kit.signer) as running:
        await enroll.enroll(enroll.EnrollRequest(
            gateway=f"127.0.0.1:{running.enroll_port}", code=code,
            ca_bundle_pem=kit.ca_bundle.read_bytes(), state_dir=state, hostname="pc"))
        settings = AgentSettings(state_dir=str(state), poll=PollSettings(
            interval_seconds=1.0, retry_min_seconds=0.2, retry_max_seconds=1.0))
        runner = Runner(settings, resolve_uplink(settings))
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(stop))
        try:
            await wait_until(lambda: runner.polls > 0 or task.done(), 60, "the first poll")
            yield runner
        finally:
            stop.set()
            await asyncio.wait_for(task, 60)


async def _renewed(runner: Runner, state: Path, first: int) -> None:
    await wait_until(lambda: _serial(state) != first, 120, "a renewed certificate")
    polls = runner.polls
    await wait_until(lambda: runner.polls > polls + 1, 60, "polls with the renewed certificate")


async def test_the_running_agent_renews_before_expiry(tmp_path: Path, vault: Vault) -> None:
    kit = make_kit(tmp_path / "cloud", vault, ttl=TTL)
    state = tmp_path / "agent"
    try:
        async with enrolled_agent(kit, state) as runner:
            loaded = identity.load_identity(state)
            assert loaded is not None
            first, old = loaded.certificate.serial_number, loaded.certificate
            await _renewed(runner, state, first)
            renewed_at = datetime.now(UTC)
            assert renewed_at < old.not_valid_after_utc  # before expiry, not after
            assert renewed_at >= identity.renewal_time(old)
            new = identity.load_identity(state)
            assert new is not None and new.valid_at()
            assert new.record == loaded.record  # same agent, new key and certificate
            assert new.key_pem != loaded.key_pem
        record = loaded.record
        assert len(kit.repository.trust.serials(AgentKey(record.tenant, record.agent_id))) >= 2
    finally:
        kit.repository.close()


@pytest.mark.faults
async def test_vault_down_at_renewal_then_back(tmp_path: Path, openbao_server: OpenBaoServer,
                                               caplog: pytest.LogCaptureFixture) -> None:
    assert openbao_server.vault is not None
    kit = make_kit(tmp_path / "cloud", openbao_server.vault, ttl=TTL)
    state = tmp_path / "agent"
    caplog.set_level(logging.WARNING, logger="kdfm_agent.runner")
    try:
        async with enrolled_agent(kit, state) as runner:
            loaded = identity.load_identity(state)
            assert loaded is not None
            first, due = loaded.certificate.serial_number, identity.renewal_time(
                loaded.certificate)
            await asyncio.to_thread(openbao_server.stop)
            await wait_until(lambda: "certificate renewal failed" in caplog.text, 90,
                        "a failed renewal while Vault is down")
            assert datetime.now(UTC) > due
            # The agent keeps working on its current certificate meanwhile.
            polls = runner.polls
            await wait_until(lambda: runner.polls > polls + 2, 60, "polls while Vault is down")
            assert _serial(state) == first
            assert "UNAVAILABLE" in caplog.text
            await asyncio.to_thread(openbao_server.start)
            await _renewed(runner, state, first)
            assert datetime.now(UTC) < loaded.certificate.not_valid_after_utc
    finally:
        kit.repository.close()
