"""The store's side of the TenantAdmin API on SQLite and PostgreSQL: upsert, region kept, the
CLI and the API writing through one call, retirement refusing codes and agents, data kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from kdfm_cloud import activation
from kdfm_cloud.store import AgentKey, SqlRepository
from kdfm_cloud.store.trust import EnrollLimits
from kdfm_cloud.tenants import RegionChangeError, TenantFieldError, TenantSpec, TrustError
from kdfm_proto.v1 import reading_pb2 as pb

from .kit import build_reading

SIGNED = datetime(2026, 3, 2, 9, 15, tzinfo=UTC)
LIMITS = EnrollLimits()


def spec(**over: object) -> TenantSpec:
    values: dict[str, object] = {"tenant": "acme", "region": "eu-central",
                                 "dpa_signed_by": "Erika", "dpa_signed_at": SIGNED,
                                 "max_agents": 2, "max_devices": 50}
    values.update(over)
    return TenantSpec(**values)  # type: ignore[arg-type]


def code_for(repository: SqlRepository, tenant: str) -> str:
    code = activation.new_code()
    repository.trust.create_code(tenant, code, datetime.now(UTC) + timedelta(days=1))
    return code.code


def test_apply_is_an_idempotent_upsert_that_keeps_the_region(repository: SqlRepository) -> None:
    trust = repository.trust
    first = trust.apply_tenant(spec())
    assert (first.region, first.dpa_signed_by, first.dpa_signed_at) == ("eu-central", "Erika",
                                                                         SIGNED)
    assert trust.apply_tenant(spec()) == first
    raised = trust.apply_tenant(spec(max_agents=9, max_devices=None))
    assert (raised.max_agents, raised.max_devices, raised.created_at) == (9, None,
                                                                          first.created_at)
    with pytest.raises(RegionChangeError, match=r"eu-central.*cannot change to eu-west"):
        trust.apply_tenant(spec(region="eu-west", max_agents=1))
    assert trust.tenant("acme") == raised  # nothing of the refused request was written
    # The CLI's create refuses an existing tenant; its sign-dpa writes through the same call.
    with pytest.raises(TrustError, match="exists already"):
        trust.create_tenant("acme", "eu-central", None)
    unsigned = trust.apply_tenant(spec(dpa_signed_by=None, dpa_signed_at=None, max_agents=9,
                                       max_devices=None))
    assert not unsigned.dpa_signed
    signed = trust.sign_dpa("acme", "Jane")
    assert signed.dpa_signed_by == "Jane" and signed.max_agents == 9


@pytest.mark.parametrize(("over", "field"), [
    ({"region": "us-east-1"}, "region"),
    ({"region": "x" * 10_000}, "region"),
    ({"tenant": "a/b"}, "tenant"),
    ({"max_agents": -3}, "max_agents"),
    ({"max_devices": 0}, "max_devices"),
    ({"dpa_signed_by": " "}, "dpa_signed_by"),
    ({"dpa_signed_by": "x" * 300}, "dpa_signed_by"),
    ({"dpa_signed_at": None}, "dpa_signed_at"),
    ({"dpa_signed_by": None}, "dpa_signed_by"),
])
def test_a_bad_field_is_named_and_nothing_is_written(repository: SqlRepository,
                                                    over: dict[str, object], field: str) -> None:
    with pytest.raises(TenantFieldError) as err:
        repository.trust.apply_tenant(spec(**over))
    assert err.value.field == field
    assert repository.trust.tenant(str(over.get("tenant", "acme"))) is None


def test_retire_refuses_codes_and_agents_and_keeps_readings(repository: SqlRepository) -> None:
    trust = repository.trust
    trust.apply_tenant(spec())
    used, unused = code_for(repository, "acme"), code_for(repository, "acme")
    claim = trust.claim_code(used, "10.1.1.1", LIMITS)
    assert claim.tenant == "acme" and claim.code_id is not None
    agent = AgentKey("acme", "agent-1")
    trust.enrolled(claim.code_id, agent, "host", "aa:01", datetime.now(UTC) + timedelta(days=1))
    outcome = repository.store_readings(agent, [build_reading(toner_state=pb.SUPPLY_STATE_OK)],
                                        datetime.now(UTC))
    assert len(outcome.stored) == 1
    assert trust.usage("acme").agents == 1 and trust.usage("acme").devices == 1

    retired = trust.retire_tenant("acme")
    assert retired.agents == ("agent-1",) and retired.serials == ("aa:01",)
    assert not retired.tenant.dpa_signed and retired.tenant.region == "eu-central"
    assert trust.refusal(agent, "aa:01") == "agent agent-1 was revoked"
    assert trust.claim_code(unused, "10.1.1.1", LIMITS).tenant is None
    with pytest.raises(TrustError, match="data-processing agreement"):
        code_for(repository, "acme")
    # Billing records stay; the counts say what is left.
    assert [r.tenant for r in repository.readings("acme")] == ["acme"]
    assert trust.usage("acme").agents == 0 and trust.usage("acme").devices == 1
    assert trust.retire_tenant("acme").agents == ("agent-1",)  # again: no change
    with pytest.raises(TrustError, match="no tenant"):
        trust.retire_tenant("nobody")
