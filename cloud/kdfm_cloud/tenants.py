"""Tenants: where their data lives and whether their data-processing agreement is signed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kdfm_cloud.errors import CloudError

REGIONS = ("eu-central", "eu-west", "eu-north", "eu-south")
"""EU regions only: the same enum as the operator's Tenant CRD (charts/kdfm-crds)."""


class TrustError(CloudError):
    """A tenant, activation code or agent request that cannot be carried out as asked."""


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

    @property
    def dpa_signed(self) -> bool:
        """Whether the tenant's data-processing agreement is signed (codes need it)."""
        return self.dpa_signed_at is not None


def check_quota(name: str, value: int | None) -> int | None:
    """A quota of 1 or more, or None (no limit); TrustError naming the quota otherwise."""
    if value is not None and value < 1:
        raise TrustError(f"{name} must be 1 or more (or not set, for no limit), not {value}")
    return value


def agent_quota_reason(tenant: str, max_agents: int) -> str:
    """What an enrolment beyond the tenant's agent quota is refused with."""
    return (f"tenant {tenant!r} has reached its limit of {max_agents} agents (max_agents): "
            "revoke an agent or raise the limit, then enrol again with the same code")


def check_region(region: str) -> str:
    """The region if it is one of REGIONS; TrustError naming the allowed ones otherwise."""
    if region not in REGIONS:
        raise TrustError(f"region {region!r} is not an EU region; one of {', '.join(REGIONS)}")
    return region
