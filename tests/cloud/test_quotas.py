"""Tenant quotas (the Tenant CRD's maxAgents / maxDevices): enforced at enrolment and upload."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from kdfm_agent import identity
from kdfm_cloud import activation
from kdfm_cloud.devstack.openbao import Vault
from kdfm_cloud.gateway.server import running_gateway
from kdfm_cloud.store import AgentKey, SqlRepository
from kdfm_cloud.store.trust import EnrollLimits
from kdfm_cloud.tenants import TrustError

from ..identity.kit import TrustKit, opened_kit, raw_enroll
from .conftest import MakeReading
from .kit import Pki
from .test_gateway import client, run_with_gateway

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
LIMITS = EnrollLimits()


def _code(repository: SqlRepository, tenant: str) -> str:
    code = activation.new_code()
    repository.trust.create_code(tenant, code, datetime.now(UTC) + timedelta(days=1))
    return code.code


def _enrol(repository: SqlRepository, tenant: str, agent_id: str) -> None:
    """Claim a fresh code and record the enrolment, as the gateway does after signing."""
    claim = repository.trust.claim_code(_code(repository, tenant), "10.9.9.9", LIMITS)
    assert claim.tenant == tenant and claim.code_id is not None, claim
    repository.trust.enrolled(claim.code_id, AgentKey(tenant, agent_id), "host", agent_id,
                              datetime.now(UTC) + timedelta(days=30))


def test_max_agents_counts_enrolled_and_under_way_not_revoked(
        repository: SqlRepository) -> None:
    trust = repository.trust
    row = trust.create_tenant("small", "eu-central", "Dealer", max_agents=2, max_devices=10)
    assert (row.max_agents, row.max_devices) == (2, 10)
    _enrol(repository, "small", "agent-a")
    # A claimed code whose certificate is still being signed counts too (no race past it).
    under_way = trust.claim_code(_code(repository, "small"), "10.9.9.9", LIMITS)
    assert under_way.tenant == "small"
    third = _code(repository, "small")
    refused = trust.claim_code(third, "10.9.9.9", LIMITS)
    assert refused.tenant is None and refused.quota_refusal is not None
    assert "limit of 2 agents (max_agents)" in refused.quota_refusal
    # Not the agent's mistake: no failure counted, the code stays good.
    stored = trust.code(activation.code_id_of(third) or "")
    assert stored is not None and stored.failures == 0 and stored.used_at is None
    # The enrolment under way failed on our side: its place is free again.
    assert under_way.code_id is not None
    trust.release_code(under_way.code_id)
    assert trust.claim_code(third, "10.9.9.9", LIMITS).tenant == "small"
    trust.release_code(activation.code_id_of(third) or "")
    # Revoking an agent frees its place.
    _enrol(repository, "small", "agent-b")
    assert trust.claim_code(third, "10.9.9.9", LIMITS).quota_refusal is not None
    trust.revoke(AgentKey("small", "agent-a"))
    assert trust.claim_code(third, "10.9.9.9", LIMITS).tenant == "small"


def test_a_quota_below_one_is_refused(repository: SqlRepository) -> None:
    with pytest.raises(TrustError, match="max_devices must be 1 or more"):
        repository.trust.create_tenant("zero", "eu-west", None, max_devices=0)
    assert repository.trust.tenant("zero") is None


def test_max_devices_refuses_readings_of_further_devices(repository: SqlRepository,
                                                         make_reading: MakeReading) -> None:
    repository.trust.create_tenant("two", "eu-north", "Dealer", max_devices=2)
    agent = AgentKey("two", "agent-1")
    first = repository.store_readings(agent, [make_reading("a1", serial="A")], NOW)
    assert first.stored == ("a1",) and first.refused == ()
    outcome = repository.store_readings(agent, [
        make_reading("b1", serial="B"), make_reading("c1", serial="C"),
        make_reading("a2", serial="A"), make_reading("c2", serial="C")], NOW)
    # A is known, B takes the last place, C (both readings) is beyond the quota.
    assert outcome.stored == ("b1", "a2")
    assert [i for i, _ in outcome.refused] == ["c1", "c2"]
    assert "limit of 2 devices (max_devices)" in outcome.refused[0][1]
    assert "c1" not in outcome.acknowledged
    assert sorted(d.serial_number or "" for d in repository.devices("two")) == ["A", "B"]
    # Known devices keep reporting; a tenant without a quota is not limited.
    assert repository.store_readings(agent, [make_reading("b2", serial="B")], NOW).stored == (
        "b2",)
    free = AgentKey("free", "agent-1")
    many = [make_reading(f"f{i}", serial=f"S{i}") for i in range(5)]
    assert len(repository.store_readings(free, many, NOW).stored) == 5


def test_the_gateway_rejects_readings_beyond_the_device_quota(
        repository: SqlRepository, pki: Pki, make_reading: MakeReading) -> None:
    repository.trust.create_tenant("tenant-a", "eu-central", "Dealer", max_devices=1)

    async def body(address: str) -> None:
        async with client(address, pki) as gateway:
            answer = await gateway.upload([make_reading("ok", serial="ONE"),
                                           make_reading("over", serial="TWO")])
            assert list(answer.acknowledged) == ["ok"]
            assert [r.reading_id for r in answer.rejected] == ["over"]
            assert "tenant 'tenant-a' has reached its limit of 1 devices" in \
                answer.rejected[0].reason

    run_with_gateway(repository, pki.gateway_settings(), body)
    assert repository.reading_ids() == ["ok"]


def test_tenant_create_takes_the_quotas(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'cloud.db'}"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kdfm_cloud.cli", "tenant", *args,
                               "--database", database], capture_output=True, text=True,
                              timeout=120, check=False)

    made = cli("create", "acme", "--region", "eu-west", "--max-agents", "3",
               "--max-devices", "250", "--json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["max_agents"] == 3
    shown = json.loads(cli("show", "acme", "--json").stdout)
    assert (shown["max_agents"], shown["max_devices"]) == (3, 250)
    bad = cli("create", "other", "--region", "eu-west", "--max-agents", "0")
    assert bad.returncode == 1 and "max_agents must be 1 or more" in bad.stderr


@pytest.fixture
def kit(tmp_path: Path, vault: Vault) -> Iterator[TrustKit]:
    with opened_kit(tmp_path / "cloud", vault) as made:
        yield made


@pytest.mark.vault
def test_enrolment_beyond_max_agents_is_refused_plainly(kit: TrustKit) -> None:
    kit.repository.trust.create_tenant("one", "eu-central", "Dealer", max_agents=1)
    first, second = kit.code("one"), kit.code("one")

    def csr() -> bytes:
        return identity.build_csr(identity.new_private_key(), "probe")

    async def main() -> None:
        async with running_gateway(kit.settings, kit.repository, signer=kit.signer) as running:
            address, ca = f"127.0.0.1:{running.enroll_port}", kit.ca_bundle.read_bytes()
            assert await raw_enroll(address, ca, first, csr()) == (grpc.StatusCode.OK, "")
            code, details = await raw_enroll(address, ca, second, csr())
            # RESOURCE_EXHAUSTED: the agent does not count it toward its activation lockout.
            assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "tenant 'one' has reached its limit of 1 agents (max_agents)" in details

    asyncio.run(main())
    row = kit.repository.trust.code(activation.code_id_of(second) or "")
    assert row is not None and row.used_at is None and row.failures == 0
