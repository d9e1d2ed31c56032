"""The store's side of the TenantAdmin API on SQLite and PostgreSQL: upsert, region kept, the
CLI and the API writing through one call, the agreement's document kept, retirement refusing
codes and agents for good (and the tenant's name), data kept."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from kdfm_cloud import activation
from kdfm_cloud.cli import main
from kdfm_cloud.store import AgentKey, SqlRepository, tables
from kdfm_cloud.store.trust import EnrollLimits
from kdfm_cloud.tenants import (
    RegionChangeError,
    RetiredTenantError,
    TenantFieldError,
    TenantSpec,
    TrustError,
)
from kdfm_proto.v1 import reading_pb2 as pb

from .kit import build_reading

SIGNED = datetime(2026, 3, 2, 9, 15, tzinfo=UTC)
LIMITS = EnrollLimits()


def spec(**over: object) -> TenantSpec:
    values: dict[str, object] = {"tenant": "acme", "region": "eu-central",
                                 "dpa_signed_by": "Erika", "dpa_signed_at": SIGNED,
                                 "dpa_document_ref": "DPA-2026-031", "max_agents": 2,
                                 "max_devices": 50}
    values.update(over)
    return TenantSpec(**values)  # type: ignore[arg-type]


def code_for(repository: SqlRepository, tenant: str) -> str:
    code = activation.new_code()
    repository.trust.create_code(tenant, code, datetime.now(UTC) + timedelta(days=1))
    return code.code


def test_apply_is_an_idempotent_upsert_that_keeps_the_region(repository: SqlRepository) -> None:
    trust = repository.trust
    first = trust.apply_tenant(spec())
    assert (first.region, first.dpa_signed_by, first.dpa_signed_at, first.dpa_document_ref) == (
        "eu-central", "Erika", SIGNED, "DPA-2026-031")
    assert first.retired_at is None and not first.retired
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
    unsigned = trust.apply_tenant(spec(dpa_signed_by=None, dpa_signed_at=None,
                                       dpa_document_ref=None, max_agents=9, max_devices=None))
    assert not unsigned.dpa_signed and unsigned.dpa_document_ref is None
    assert unsigned.retired_at is None  # withdrawn is not retired
    signed = trust.sign_dpa("acme", "Jane", document_ref="archive/acme/dpa-v2.pdf")
    assert signed.dpa_signed_by == "Jane" and signed.max_agents == 9
    assert signed.dpa_document_ref == "archive/acme/dpa-v2.pdf"
    # Signed again without saying where: the new agreement's reference is not known.
    assert trust.sign_dpa("acme", "Jane").dpa_document_ref is None


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
    ({"dpa_document_ref": " "}, "dpa_document_ref"),
    ({"dpa_document_ref": "x" * 300}, "dpa_document_ref"),
    ({"dpa_signed_by": None, "dpa_signed_at": None}, "dpa_signed_by"),  # a reference, no signer
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

    before = datetime.now(UTC)
    retired = trust.retire_tenant("acme")
    assert retired.agents == ("agent-1",) and retired.serials == ("aa:01",)
    assert not retired.tenant.dpa_signed and retired.tenant.region == "eu-central"
    assert retired.tenant.retired and retired.tenant.retired_at is not None
    assert retired.tenant.retired_at >= before - timedelta(seconds=1)
    # The agreement that covered the data kept stays on record (which one, signed by whom).
    assert (retired.tenant.dpa_signed_by, retired.tenant.dpa_signed_at,
            retired.tenant.dpa_document_ref) == ("Erika", SIGNED, "DPA-2026-031")
    assert trust.refusal(agent, "aa:01") == "agent agent-1 was revoked"
    assert trust.claim_code(unused, "10.1.1.1", LIMITS).why == "burned code"
    # A code that `create_code` stored while the retirement ran (it checked the tenant just
    # before): the retirement alone refuses it.
    late = activation.new_code()
    with repository.engine.begin() as conn:
        conn.execute(tables.activation_codes.insert().values(
            code_id=late.code_id, tenant="acme", code_hash=late.code_hash,
            created_at=datetime.now(UTC), expires_at=datetime.now(UTC) + timedelta(days=1),
            failures=0))
    claim = trust.claim_code(late.code, "10.1.1.2", LIMITS)
    assert claim.tenant is None and claim.why == "tenant retired"
    with pytest.raises(RetiredTenantError, match="retired on"):
        code_for(repository, "acme")
    # Billing records stay; the counts say what is left.
    assert [r.tenant for r in repository.readings("acme")] == ["acme"]
    assert trust.usage("acme").agents == 0 and trust.usage("acme").devices == 1
    again = trust.retire_tenant("acme")  # again: no change, the first date stays
    assert again.agents == ("agent-1",) and again.tenant == retired.tenant
    with pytest.raises(TrustError, match="no tenant"):
        trust.retire_tenant("nobody")


def test_a_retired_tenant_is_never_applied_again(repository: SqlRepository) -> None:
    trust = repository.trust
    trust.apply_tenant(spec())
    retired = trust.retire_tenant("acme", now=datetime(2026, 10, 5, 8, 30, tzinfo=UTC)).tenant
    # The Tenant re-created under the same name (the operator applies it again): refused, with
    # the date and the way out, and nothing of the request is written.
    with pytest.raises(RetiredTenantError, match=r"retired on 2026-10-05 08:30 UTC.*new name") \
            as refused:
        trust.apply_tenant(spec(dpa_signed_by="Mallory", dpa_document_ref="DPA-NEW",
                                max_agents=99))
    assert refused.value.retired_at == retired.retired_at
    with pytest.raises(RetiredTenantError):
        trust.apply_tenant(spec(dpa_signed_by=None, dpa_signed_at=None, dpa_document_ref=None))
    with pytest.raises(RetiredTenantError):
        trust.sign_dpa("acme", "Mallory", document_ref="DPA-NEW")
    with pytest.raises(RetiredTenantError):
        trust.create_tenant("acme", "eu-central", "Mallory")
    assert trust.tenant("acme") == retired
    # The way out works: the same people under a new name.
    fresh = trust.apply_tenant(spec(tenant="acme-2", dpa_document_ref="DPA-NEW"))
    assert fresh.dpa_signed and not fresh.retired and fresh.dpa_document_ref == "DPA-NEW"


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["tenant", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_tenant_cli_shows_the_agreement_document_and_the_retirement(
        repository: SqlRepository, database_url: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    db = ("--database", database_url)
    code, out, _ = _cli(capsys, "create", "initech", "--region", "eu-west", "--dpa-signed-by",
                        "Bill", "--dpa-document-ref", "DPA-77", "--json", *db)
    assert code == 0 and json.loads(out)["dpa_document_ref"] == "DPA-77"
    code, out, _ = _cli(capsys, "sign-dpa", "initech", "--by", "Peter", "--document-ref",
                        "archive/initech/dpa-v2.pdf", "--json", *db)
    assert code == 0 and json.loads(out)["dpa_document_ref"] == "archive/initech/dpa-v2.pdf"
    code, out, _ = _cli(capsys, "show", "initech", "--json", *db)
    shown = json.loads(out)
    assert code == 0 and (shown["dpa_signed"], shown["dpa_signed_by"], shown["retired_at"]) == (
        True, "Peter", None)
    code, _, err = _cli(capsys, "create", "initech2", "--region", "eu-west",
                        "--dpa-document-ref", "DPA-1", *db)
    assert code == 1 and "dpa_signed_by" in err and "who signed" in err

    repository.trust.retire_tenant("initech", now=datetime(2026, 10, 5, 8, 30, tzinfo=UTC))
    code, out, _ = _cli(capsys, "show", "initech", "--json", *db)
    shown = json.loads(out)
    assert code == 0 and shown["retired_at"] == "2026-10-05T08:30:00+00:00"
    assert (shown["dpa_signed"], shown["dpa_document_ref"]) == (
        False, "archive/initech/dpa-v2.pdf")
    code, out, _ = _cli(capsys, "show", "initech", *db)
    lines = dict(line.split(None, 1) for line in out.splitlines()
                 if line.split()[0].isidentifier())
    assert lines["retired_at"] == "2026-10-05T08:30:00+00:00"
    assert lines["dpa_document_ref"] == "archive/initech/dpa-v2.pdf"
    assert "new name" in out and "sign-dpa" not in out  # signing is no way out
    code, _, err = _cli(capsys, "sign-dpa", "initech", "--by", "Peter", *db)
    assert code == 1 and "retired on 2026-10-05 08:30 UTC" in err
