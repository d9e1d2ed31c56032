"""What the store keeps about trust: tenants' agreements, activation codes, failed enrolments,
issued agent certificates and revocations. Every decision that must not race (claiming a
one-time code, counting a failure) is one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from kdfm_cloud import activation, identity
from kdfm_cloud.errors import IdentityError
from kdfm_cloud.store import engines, tables
from kdfm_cloud.store.repository import AgentKey
from kdfm_cloud.tenants import (
    MAX_TEXT,
    RegionChangeError,
    RetiredTenantError,
    TenantFieldError,
    TenantRow,
    TenantSpec,
    TrustError,
    agent_quota_reason,
    check_agreement,
    check_quota,
    check_region,
)


def _must(value: datetime | None) -> datetime:
    stamped = tables.utc(value)
    if stamped is None:
        raise TrustError("a required timestamp is missing in the store")
    return stamped


ENROLMENT_UNDER_WAY = timedelta(minutes=10)
"""How long a claimed code without an agent counts as an enrolment under way (quota)."""


@dataclass(frozen=True, slots=True)
class EnrollLimits:
    """How many failed enrolments a code and a source address get."""

    per_code: int = 5
    """Failures that burn a code (the 5th)."""
    per_source: int = 20
    """Failures after which a source address is refused until its window has passed."""
    source_window: timedelta = timedelta(hours=1)
    """How long a source address's failures are remembered."""


def check_spec(spec: TenantSpec) -> TenantSpec:
    """Every field checked before anything is written; TenantFieldError names the first bad one."""
    if len(spec.tenant) > MAX_TEXT:  # never echo an oversized value back
        raise TenantFieldError("tenant", f"tenant is {len(spec.tenant)} characters long; "
                                         "at most 128")
    try:
        identity.check_name("tenant", spec.tenant)
    except IdentityError as err:
        raise TenantFieldError("tenant", str(err)) from err
    if len(spec.region) > MAX_TEXT:  # never echo an oversized value back
        raise TenantFieldError("region", f"region is {len(spec.region)} characters long; "
                                         "it is one of the EU regions")
    check_region(spec.region)
    check_agreement(spec.dpa_signed_by, spec.dpa_signed_at, spec.dpa_document_ref)
    check_quota("max_agents", spec.max_agents)
    check_quota("max_devices", spec.max_devices)
    return spec


@dataclass(frozen=True, slots=True)
class TenantUsage:
    """What a tenant uses of its quotas now."""

    agents: int
    """Enrolled agents that are not revoked."""
    devices: int
    """Devices its agents have reported."""


@dataclass(frozen=True, slots=True)
class Retirement:
    """A retired tenant: what the store holds now, its agents and their certificates' serials."""

    tenant: TenantRow
    agents: tuple[str, ...]
    """Every agent id of the tenant (all revoked now)."""
    serials: tuple[str, ...]
    """Every certificate serial issued to them (for Vault's CRL)."""


@dataclass(frozen=True, slots=True)
class CodeRow:
    """An activation code as stored (never the code itself)."""

    code_id: str
    tenant: str
    created_at: datetime
    expires_at: datetime
    failures: int
    burned_at: datetime | None
    used_at: datetime | None
    agent_id: str | None


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of presenting a code: the tenant it activates, or None (refused)."""

    code_id: str | None
    tenant: str | None
    why: str
    """For the gateway's log only; never sent to the caller."""
    quota_refusal: str | None = None
    """A good code of a tenant at its agent quota: said to the caller; the code stays good."""


# The gateway asks it on every call: one statement, built once.
_REVOKED = sa.select(
    sa.select(tables.agents.c.revoked_at).where(
        tables.agents.c.tenant == sa.bindparam("tenant"),
        tables.agents.c.agent_id == sa.bindparam("agent_id")).scalar_subquery(),
    sa.select(tables.agent_certificates.c.revoked_at).where(
        tables.agent_certificates.c.serial == sa.bindparam("serial")).scalar_subquery())


class TrustRepository:
    """Tenants, codes, certificates and revocations on the repository's engine."""

    def __init__(self, engine: sa.Engine, insert: Any) -> None:
        self._engine = engine
        self._insert = insert

    # -- tenants --------------------------------------------------------------------------

    @staticmethod
    def _tenant_row(row: Any) -> TenantRow:
        return TenantRow(tenant=row.tenant, region=row.region, dpa_signed_by=row.dpa_signed_by,
                         dpa_signed_at=tables.utc(row.dpa_signed_at),
                         created_at=_must(row.created_at), max_agents=row.max_agents,
                         max_devices=row.max_devices, dpa_document_ref=row.dpa_document_ref,
                         retired_at=tables.utc(row.retired_at))

    def tenant(self, name: str) -> TenantRow | None:
        """The tenant, or None."""
        t = tables.tenants
        with engines.read(self._engine) as conn:
            row = conn.execute(sa.select(t).where(t.c.tenant == name)).first()
        return None if row is None else self._tenant_row(row)

    def apply_tenant(self, spec: TenantSpec, now: datetime | None = None) -> TenantRow:
        """Make the tenant what `spec` says (create or update): the admin API's upsert.

        The region of a tenant that has one never changes (RegionChangeError): its data stays
        where it was first stored. No agreement in `spec` withdraws a signed one, so codes are
        refused from then on; enrolled agents keep working until retired or revoked. A retired
        tenant is refused (RetiredTenantError): a Tenant re-created under its name must not take
        over the data kept under it.
        """
        return self._put(check_spec(spec), now or datetime.now(UTC), create_only=False)

    def create_tenant(self, name: str, region: str, dpa_signed_by: str | None,
                      now: datetime | None = None, *, max_agents: int | None = None,
                      max_devices: int | None = None,
                      dpa_document_ref: str | None = None) -> TenantRow:
        """Create a tenant in an EU region; TrustError when it already exists with a region."""
        now = now or datetime.now(UTC)
        spec = TenantSpec(name, region, dpa_signed_by, now if dpa_signed_by else None,
                          max_agents, max_devices, dpa_document_ref)
        return self._put(check_spec(spec), now, create_only=True)

    def sign_dpa(self, name: str, signed_by: str, now: datetime | None = None, *,
                 document_ref: str | None = None) -> TenantRow:
        """Record the tenant's signed data-processing agreement and where it is kept."""
        now = now or datetime.now(UTC)
        found = self.tenant(name)
        if found is None or found.region is None:
            raise TrustError(f"no tenant {name!r}: create it with `kdfm-cloud tenant create`")
        spec = TenantSpec(name, found.region, signed_by, now, found.max_agents,
                          found.max_devices, document_ref)
        return self._put(check_spec(spec), now, create_only=False)

    def _put(self, spec: TenantSpec, now: datetime, *, create_only: bool) -> TenantRow:
        """The one write of a tenant's region, agreement and quotas, in one transaction."""
        t = tables.tenants
        values: dict[str, Any] = {
            "region": spec.region, "dpa_signed_by": spec.dpa_signed_by,
            "dpa_signed_at": spec.dpa_signed_at, "dpa_document_ref": spec.dpa_document_ref,
            "max_agents": spec.max_agents, "max_devices": spec.max_devices}
        with self._engine.begin() as conn:
            existing = conn.execute(sa.select(t).where(t.c.tenant == spec.tenant)
                                    .with_for_update()).first()
            if existing is not None and existing.retired_at is not None:
                raise RetiredTenantError(spec.tenant, _must(existing.retired_at))
            if existing is not None and existing.region is not None:
                if create_only:
                    raise TrustError(f"tenant {spec.tenant!r} exists already "
                                     f"(region {existing.region})")
                if existing.region != spec.region:
                    raise RegionChangeError(
                        f"tenant {spec.tenant!r} keeps its data in {existing.region}: its region "
                        f"cannot change to {spec.region}; move a tenant by creating a new one "
                        "and retiring this one")
            if existing is None:
                conn.execute(t.insert().values(tenant=spec.tenant, created_at=now, **values))
            else:  # also a tenant first seen through an agent before it was created on purpose
                conn.execute(t.update().where(t.c.tenant == spec.tenant).values(**values))
            row = conn.execute(sa.select(t).where(t.c.tenant == spec.tenant)).one()
        return self._tenant_row(row)

    def usage(self, name: str) -> TenantUsage:
        """How many agents (enrolled, not revoked) and devices the tenant has now."""
        d = tables.devices
        with engines.read(self._engine) as conn:
            agents = self._agents_active(conn, name)
            devices = conn.scalar(sa.select(sa.func.count()).select_from(d).where(
                d.c.tenant == name))
        return TenantUsage(agents=agents, devices=int(devices or 0))

    def retire_tenant(self, name: str, now: datetime | None = None) -> Retirement:
        """Refuse the tenant for good: codes burned, agents revoked, retired_at set.

        Its devices and readings stay: readings are billing records the dealer invoices from
        and must keep (and may have to show) after the contract ends; they go only with an
        explicit purge. So does the record of its agreement (who, when, which document), which
        covered them; `TenantRow.dpa_signed` is False from now on. Retiring again changes
        nothing (the first retired_at stays) and answers the same agents.
        """
        now = now or datetime.now(UTC)
        t, a, c, cert = (tables.tenants, tables.agents, tables.activation_codes,
                         tables.agent_certificates)
        with self._engine.begin() as conn:
            row = conn.execute(sa.select(t).where(t.c.tenant == name).with_for_update()).first()
            if row is None:
                raise TrustError(f"no tenant {name!r}")
            if row.retired_at is None:
                conn.execute(t.update().where(t.c.tenant == name).values(retired_at=now))
            conn.execute(c.update().where(c.c.tenant == name, c.c.used_at.is_(None),
                                          c.c.burned_at.is_(None)).values(burned_at=now))
            conn.execute(a.update().where(a.c.tenant == name, a.c.revoked_at.is_(None))
                         .values(revoked_at=now))
            conn.execute(cert.update().where(cert.c.tenant == name, cert.c.revoked_at.is_(None))
                         .values(revoked_at=now))
            agents = sorted(conn.scalars(sa.select(a.c.agent_id).where(a.c.tenant == name)))
            serials = list(conn.scalars(sa.select(cert.c.serial).where(cert.c.tenant == name)
                                        .order_by(cert.c.issued_at)))
            row = conn.execute(sa.select(t).where(t.c.tenant == name)).one()
        return Retirement(self._tenant_row(row), tuple(agents), tuple(serials))

    # -- activation codes -----------------------------------------------------------------

    def create_code(self, tenant: str, code: activation.NewCode, expires_at: datetime,
                    now: datetime | None = None) -> None:
        """Store a new code's hash; TrustError unless the tenant exists with a signed DPA."""
        found = self.tenant(tenant)
        if found is None or found.region is None:
            raise TrustError(f"no tenant {tenant!r}: create it with `kdfm-cloud tenant create`")
        if found.retired_at is not None:
            raise RetiredTenantError(tenant, found.retired_at)
        if not found.dpa_signed:
            raise TrustError(f"tenant {tenant!r} has not signed the data-processing agreement: "
                             "no activation codes until `kdfm-cloud tenant sign-dpa`")
        with self._engine.begin() as conn:
            conn.execute(tables.activation_codes.insert().values(
                code_id=code.code_id, tenant=tenant, code_hash=code.code_hash,
                created_at=now or datetime.now(UTC), expires_at=expires_at, failures=0))

    def code(self, code_id: str) -> CodeRow | None:
        """A stored code by its id (for the CLI and tests)."""
        c = tables.activation_codes
        with engines.read(self._engine) as conn:
            row = conn.execute(sa.select(c).where(c.c.code_id == code_id)).first()
        if row is None:
            return None
        return CodeRow(code_id=row.code_id, tenant=row.tenant,
                       created_at=_must(row.created_at), expires_at=_must(row.expires_at),
                       failures=row.failures, burned_at=tables.utc(row.burned_at),
                       used_at=tables.utc(row.used_at), agent_id=row.agent_id)

    def source_failures(self, source: str) -> int:
        """Failed enrolments remembered for a source address."""
        s = tables.enroll_sources
        with engines.read(self._engine) as conn:
            return int(conn.scalar(sa.select(s.c.failures).where(s.c.source == source)) or 0)

    def claim_code(self, code: str, source: str, limits: EnrollLimits,
                   now: datetime | None = None) -> Claim:
        """Take a one-time code for an enrolment, or count the failure (code and source).

        A claimed code is marked used at once, so two racing enrolments cannot both win;
        `release_code` gives it back when the certificate could not be issued.
        """
        now = now or datetime.now(UTC)
        c, t = tables.activation_codes, tables.tenants
        with self._engine.begin() as conn:
            if self._source_blocked(conn, source, limits, now):
                self._count_source(conn, source, limits, now)
                return Claim(None, None, f"source {source} has too many failed enrolments")
            code_id = activation.code_id_of(code)
            row = None if code_id is None else conn.execute(
                sa.select(c).where(c.c.code_id == code_id)).first()
            if row is None:
                self._count_source(conn, source, limits, now)
                return Claim(None, None, "unknown or malformed code")
            why = ""
            if not activation.matches(code, row.code_hash):
                why = "wrong secret"
            elif row.burned_at is not None:
                why = "burned code"
            elif row.used_at is not None:
                why = "code used before"
            elif _must(row.expires_at) <= now:
                why = "expired code"
            else:
                # FOR UPDATE (PostgreSQL): enrolments of one tenant count its agents one after
                # the other. SQLite holds the database's write lock since BEGIN already.
                tenant = conn.execute(sa.select(t).where(t.c.tenant == row.tenant)
                                      .with_for_update()).first()
                if tenant is None or tenant.dpa_signed_at is None:
                    why = "tenant missing or without a signed data-processing agreement"
                elif tenant.retired_at is not None:
                    why = "tenant retired"
                elif tenant.max_agents is not None and \
                        self._agents_counted(conn, row.tenant, now) >= tenant.max_agents:
                    # Not the agent's mistake: no failure counted, the code is not used up.
                    return Claim(row.code_id, None, "tenant at its agent quota",
                                 quota_refusal=agent_quota_reason(row.tenant,
                                                                  tenant.max_agents))
            if why:
                failures = row.failures + 1
                burn = {"burned_at": now} if failures >= limits.per_code and \
                    row.burned_at is None else {}
                conn.execute(c.update().where(c.c.code_id == row.code_id)
                             .values(failures=failures, **burn))
                self._count_source(conn, source, limits, now)
                return Claim(row.code_id, None, why + (" (code burned now)" if burn else ""))
            conn.execute(c.update().where(c.c.code_id == row.code_id, c.c.used_at.is_(None))
                         .values(used_at=now))
        return Claim(row.code_id, row.tenant, "claimed")

    @staticmethod
    def _agents_active(conn: sa.Connection, tenant: str) -> int:
        """Agents of the tenant that are enrolled and not revoked."""
        a = tables.agents
        return int(conn.scalar(sa.select(sa.func.count()).select_from(a).where(
            a.c.tenant == tenant, a.c.enrolled_at.is_not(None), a.c.revoked_at.is_(None))) or 0)

    @classmethod
    def _agents_counted(cls, conn: sa.Connection, tenant: str, now: datetime) -> int:
        """Agents that use up the quota: enrolled and not revoked, plus enrolments under way
        (a code claimed in the last minutes whose certificate is being signed; older claims
        are enrolments a crashed gateway never finished)."""
        c = tables.activation_codes
        under_way = conn.scalar(sa.select(sa.func.count()).select_from(c).where(
            c.c.tenant == tenant, c.c.used_at > now - ENROLMENT_UNDER_WAY,
            c.c.agent_id.is_(None)))
        return cls._agents_active(conn, tenant) + int(under_way or 0)

    def release_code(self, code_id: str) -> None:
        """Give a claimed code back (the enrolment failed on our side, not the agent's)."""
        c = tables.activation_codes
        with self._engine.begin() as conn:
            conn.execute(c.update().where(c.c.code_id == code_id, c.c.agent_id.is_(None))
                         .values(used_at=None))

    @staticmethod
    def _source_blocked(conn: sa.Connection, source: str, limits: EnrollLimits,
                        now: datetime) -> bool:
        s = tables.enroll_sources
        row = conn.execute(sa.select(s).where(s.c.source == source)).first()
        return bool(row is not None and _must(row.first_failure_at) > now - limits.source_window
                    and row.failures >= limits.per_source)

    def _count_source(self, conn: sa.Connection, source: str, limits: EnrollLimits,
                      now: datetime) -> None:
        s = tables.enroll_sources
        row = conn.execute(sa.select(s).where(s.c.source == source)).first()
        if row is None:
            conn.execute(s.insert().values(source=source, failures=1, first_failure_at=now,
                                           last_failure_at=now))
        elif _must(row.first_failure_at) <= now - limits.source_window:
            conn.execute(s.update().where(s.c.source == source).values(
                failures=1, first_failure_at=now, last_failure_at=now))
        else:
            conn.execute(s.update().where(s.c.source == source).values(
                failures=row.failures + 1, last_failure_at=now))

    # -- agents and certificates ----------------------------------------------------------

    def enrolled(self, code_id: str, agent: AgentKey, hostname: str, serial: str,
                 not_after: datetime, *, now: datetime | None = None) -> None:
        """Record a finished enrolment: the agent, its first certificate, the code's use."""
        now = now or datetime.now(UTC)
        with self._engine.begin() as conn:
            conn.execute(self._insert(tables.agents).values(
                tenant=agent.tenant, agent_id=agent.agent_id, config_version=0,
                hostname=hostname[:256], enrolled_at=now).on_conflict_do_nothing())
            conn.execute(tables.activation_codes.update()
                         .where(tables.activation_codes.c.code_id == code_id)
                         .values(agent_id=agent.agent_id))
            self._certificate(conn, agent, serial, not_after, now)

    def certificate_issued(self, agent: AgentKey, serial: str, not_after: datetime,
                           now: datetime | None = None) -> None:
        """Record a renewed certificate of an agent."""
        with self._engine.begin() as conn:
            self._certificate(conn, agent, serial, not_after, now or datetime.now(UTC))

    @staticmethod
    def _certificate(conn: sa.Connection, agent: AgentKey, serial: str, not_after: datetime,
                     now: datetime) -> None:
        conn.execute(tables.agent_certificates.insert().values(
            serial=serial, tenant=agent.tenant, agent_id=agent.agent_id, issued_at=now,
            not_after=not_after))

    def refusal(self, agent: AgentKey, serial: str) -> str | None:
        """Why the agent's certificate must be refused (revoked), or None."""
        with engines.read(self._engine) as conn:
            agent_revoked, serial_revoked = conn.execute(_REVOKED, {
                "tenant": agent.tenant, "agent_id": agent.agent_id, "serial": serial}).one()
        if agent_revoked is not None:
            return f"agent {agent.agent_id} was revoked"
        if serial_revoked is not None:
            return f"certificate {serial} was revoked"
        return None

    def find_agent(self, agent_id: str, tenant: str | None = None) -> AgentKey:
        """The enrolled agent with this id (in this tenant); TrustError when none or several."""
        a = tables.agents
        query = sa.select(a.c.tenant, a.c.agent_id).where(a.c.agent_id == agent_id)
        if tenant is not None:
            query = query.where(a.c.tenant == tenant)
        with engines.read(self._engine) as conn:
            rows = conn.execute(query).all()
        if not rows:
            raise TrustError(f"no agent {agent_id!r}" + (f" in tenant {tenant!r}" if tenant
                                                         else ""))
        if len(rows) > 1:
            raise TrustError(f"agent id {agent_id!r} exists in tenants "
                             f"{', '.join(r.tenant for r in rows)}: say which with --tenant")
        return AgentKey(rows[0].tenant, rows[0].agent_id)

    def revoke(self, agent: AgentKey, now: datetime | None = None) -> list[str]:
        """Mark the agent and every certificate it was issued revoked; answers the serials."""
        now = now or datetime.now(UTC)
        a, cert = tables.agents, tables.agent_certificates
        with self._engine.begin() as conn:
            conn.execute(a.update().where(a.c.tenant == agent.tenant,
                                          a.c.agent_id == agent.agent_id,
                                          a.c.revoked_at.is_(None)).values(revoked_at=now))
            conn.execute(cert.update().where(cert.c.tenant == agent.tenant,
                                             cert.c.agent_id == agent.agent_id,
                                             cert.c.revoked_at.is_(None))
                         .values(revoked_at=now))
            return list(conn.scalars(sa.select(cert.c.serial).where(
                cert.c.tenant == agent.tenant, cert.c.agent_id == agent.agent_id)))

    def serials(self, agent: AgentKey) -> list[str]:
        """Serials of every certificate issued to the agent, oldest first."""
        cert = tables.agent_certificates
        with engines.read(self._engine) as conn:
            return list(conn.scalars(sa.select(cert.c.serial).where(
                cert.c.tenant == agent.tenant, cert.c.agent_id == agent.agent_id)
                .order_by(cert.c.issued_at)))
