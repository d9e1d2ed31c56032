"""Tenants: where their data lives and whether their data-processing agreement is signed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kdfm_cloud.errors import CloudError

REGIONS = ("eu-central", "eu-west", "eu-north", "eu-south")
"""EU regions only: the same enum as the operator's Tenant CRD (charts/kdfm-crds)."""


MAX_TEXT = 256
"""Longest signer name or agreement reference kept (the store's column width)."""


class TrustError(CloudError):
    """A tenant, activation code or agent request that cannot be carried out as asked."""


class TenantFieldError(TrustError):
    """One field of a tenant is invalid; `field` names it (as the admin API spells it)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class RegionChangeError(TrustError):
    """A tenant's region cannot change: its data stays where it was first stored."""


class RetiredTenantError(TrustError):
    """A retired tenant cannot be applied, signed or created again; a new name is the way out."""

    def __init__(self, tenant: str, retired_at: datetime) -> None:
        super().__init__(retired_reason(tenant, retired_at))
        self.retired_at = retired_at


@dataclass(frozen=True, slots=True)
class TenantRow:
    """A tenant; `region` is None for tenants only ever seen through an agent's first contact."""

    tenant: str
    region: str | None
    dpa_signed_by: str | None
    dpa_signed_at: datetime | None
    created_at: datetime
    max_agents: int | None = None
    """Agents the tenant may enrol (revoked ones do not count); None: no limit."""
    max_devices: int | None = None
    """Devices the tenant's agents may report; None: no limit."""
    dpa_document_ref: str | None = None
    """Where the signed agreement is kept (the Tenant's documentRef); None: not said."""
    retired_at: datetime | None = None
    """When the tenant was retired (its Tenant resource deleted); None: not retired."""

    @property
    def dpa_signed(self) -> bool:
        """Whether the agreement is in force: signed and not retired (codes need it).

        A retired tenant keeps the record of the agreement it had, because its devices and
        readings are kept and an auditor asks under which agreement they were collected.
        """
        return self.dpa_signed_at is not None and self.retired_at is None

    @property
    def retired(self) -> bool:
        """Whether the tenant was retired: its agents and codes are refused for good."""
        return self.retired_at is not None


@dataclass(frozen=True, slots=True)
class TenantSpec:
    """What a tenant should be: the Tenant resource's spec, or `kdfm-cloud tenant create`."""

    tenant: str
    region: str
    dpa_signed_by: str | None = None
    """Who signed the data-processing agreement; None: not signed."""
    dpa_signed_at: datetime | None = None
    """When it was signed (required with dpa_signed_by)."""
    max_agents: int | None = None
    """Agents the tenant may enrol; None: no limit."""
    max_devices: int | None = None
    """Devices the tenant's agents may report; None: no limit."""
    dpa_document_ref: str | None = None
    """Where the signed agreement is kept (the Tenant's documentRef); None: not said."""


def retired_reason(tenant: str, retired_at: datetime) -> str:
    """What applying, signing or creating a retired tenant is refused with, and the way out."""
    return (f"tenant {tenant!r} was retired on {retired_at:%Y-%m-%d %H:%M} UTC (its Tenant "
            "resource was deleted): its agents are revoked, its activation codes burned, and "
            "its devices and readings are kept under this name as billing records, so the name "
            "cannot be used again; create the tenant under a new name")


def check_quota(name: str, value: int | None) -> int | None:
    """A quota of 1 or more, or None (no limit); TenantFieldError naming the quota otherwise."""
    if value is not None and value < 1:
        raise TenantFieldError(name, f"{name} must be 1 or more (or not set, for no limit), "
                                     f"not {value}")
    return value


def check_agreement(signed_by: str | None, signed_at: datetime | None,
                    document_ref: str | None = None) -> None:
    """Signed by someone at some time (and kept somewhere, when said), or not signed at all;
    TenantFieldError otherwise."""
    if signed_by is None:
        if signed_at is not None:
            raise TenantFieldError("dpa_signed_by", "dpa_signed_at is set but dpa_signed_by "
                                                    "is not: who signed the agreement?")
        if document_ref is not None:
            raise TenantFieldError("dpa_signed_by", "dpa_document_ref is set but "
                                                    "dpa_signed_by is not: who signed it?")
        return
    if document_ref is not None:
        if not document_ref.strip():
            raise TenantFieldError("dpa_document_ref", "dpa_document_ref is empty: say where "
                                                       "the signed agreement is kept")
        if len(document_ref) > MAX_TEXT:
            raise TenantFieldError("dpa_document_ref", f"dpa_document_ref is "
                                                       f"{len(document_ref)} characters; at "
                                                       f"most {MAX_TEXT}")
    if not signed_by.strip():
        raise TenantFieldError("dpa_signed_by", "the data-processing agreement needs the name "
                                                "of who signed it")
    if len(signed_by) > MAX_TEXT:
        raise TenantFieldError("dpa_signed_by", f"dpa_signed_by is {len(signed_by)} "
                                                f"characters; at most {MAX_TEXT}")
    if signed_at is None or signed_at.tzinfo is None:
        raise TenantFieldError("dpa_signed_at", "dpa_signed_at must be a time with a zone "
                                                "when the agreement is signed")


def agent_quota_reason(tenant: str, max_agents: int) -> str:
    """What an enrolment beyond the tenant's agent quota is refused with."""
    return (f"tenant {tenant!r} has reached its limit of {max_agents} agents (max_agents): "
            "revoke an agent or raise the limit, then enrol again with the same code")


def check_region(region: str) -> str:
    """The region if it is one of REGIONS; TrustError naming the allowed ones otherwise."""
    if region not in REGIONS:
        raise TenantFieldError("region", f"region {region!r} is not an EU region; one of "
                                         f"{', '.join(REGIONS)}")
    return region
