"""The TenantAdmin calls: the Kubernetes operator makes the gateway's tenants match its Tenants.

Served on the mutual-TLS port beside AgentGateway. Who may call is decided by the client
certificate alone: grpc has already checked it against the client CA; it must carry an operator
identity (kdfm://operator/<name>, kdfm_cloud.identity) whose name gateway.admin_identities lists.
An agent's certificate is refused PERMISSION_DENIED before the request is even parsed.

Both calls write through TrustRepository, the same code `kdfm-cloud tenant` uses; every field
is checked before anything is written, so a refused request leaves the store as it was.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC
from typing import Any

import grpc
from kdfm_proto.v1 import admin_pb2

from kdfm_cloud import identity
from kdfm_cloud.agentbroker import AgentBroker
from kdfm_cloud.agentpki import AgentSigner
from kdfm_cloud.errors import CloudError, IdentityError
from kdfm_cloud.gateway import rpc
from kdfm_cloud.settings import GatewaySettings
from kdfm_cloud.store import AgentKey, Repository
from kdfm_cloud.store.trust import TenantUsage
from kdfm_cloud.tenants import (
    MAX_TEXT,
    RegionChangeError,
    RetiredTenantError,
    TenantFieldError,
    TenantRow,
    TenantSpec,
    TrustError,
)

log = logging.getLogger(__name__)

SERVICE = "kdfm.v1.TenantAdmin"


def record(row: TenantRow, usage: TenantUsage) -> admin_pb2.TenantRecord:
    """What the store holds about a tenant, as the admin API answers it."""
    answer = admin_pb2.TenantRecord(tenant=row.tenant, region=row.region or "",
                                    active=row.region is not None and row.dpa_signed,
                                    agents=usage.agents, devices=usage.devices)
    if row.max_agents is not None:
        answer.max_agents = row.max_agents
    if row.max_devices is not None:
        answer.max_devices = row.max_devices
    if row.dpa_signed_at is not None:  # also a retired tenant's: it covered the data kept
        answer.agreement.signed_by = row.dpa_signed_by or ""
        answer.agreement.signed_at.FromDatetime(row.dpa_signed_at.astimezone(UTC)
                                                .replace(tzinfo=None))
        answer.agreement.document_ref = row.dpa_document_ref or ""
    if row.retired_at is not None:
        answer.retired_at.FromDatetime(row.retired_at.astimezone(UTC).replace(tzinfo=None))
        answer.inactive_reason = (f"retired on {row.retired_at:%Y-%m-%d %H:%M} UTC: its agents "
                                  "and activation codes are refused for good")
    elif row.region is None:
        answer.inactive_reason = "the tenant was only seen through an agent, never created"
    elif not row.dpa_signed:
        answer.inactive_reason = ("no signed data-processing agreement: its activation codes "
                                  "are refused")
    return answer


def spec_of(request: admin_pb2.ApplyTenantRequest) -> TenantSpec:
    """The tenant the request describes; TenantFieldError for what only the wire can get wrong."""
    signed_by, signed_at, document_ref = None, None, None
    if request.HasField("agreement"):
        agreement = request.agreement
        signed_by = agreement.signed_by
        if not agreement.HasField("signed_at"):
            raise TenantFieldError("agreement.signed_at", "agreement.signed_at is missing")
        signed_at = agreement.signed_at.ToDatetime(tzinfo=UTC)
        if not agreement.document_ref.strip():
            raise TenantFieldError("agreement.document_ref", "agreement.document_ref is empty: "
                                   "say where the signed agreement is kept")
        if len(agreement.document_ref) > MAX_TEXT:
            raise TenantFieldError("agreement.document_ref", "agreement.document_ref is "
                                   f"{len(agreement.document_ref)} characters; at most {MAX_TEXT}")
        document_ref = agreement.document_ref
    return TenantSpec(
        tenant=request.tenant, region=request.region, dpa_signed_by=signed_by,
        dpa_signed_at=signed_at, dpa_document_ref=document_ref,
        max_agents=request.max_agents if request.HasField("max_agents") else None,
        max_devices=request.max_devices if request.HasField("max_devices") else None)


class TenantAdminServicer:
    """TenantAdmin on a repository; store calls run in worker threads."""

    def __init__(self, repository: Repository, settings: GatewaySettings, *,
                 signer: AgentSigner | None = None, broker: AgentBroker | None = None) -> None:
        self._repository = repository
        self._allowed = frozenset(settings.admin_identities)
        self._signer = signer
        self._broker = broker

    def handler(self) -> grpc.GenericRpcHandler[Any, Any]:
        """The generic handler to add to a grpc.aio server."""
        return rpc.handler(SERVICE, {
            "ApplyTenant": (self.apply_tenant, admin_pb2.TenantRecord),
            "RetireTenant": (self.retire_tenant, admin_pb2.RetireTenantResponse),
        })

    async def _operator(self, context: rpc.Context) -> str:
        pem = await rpc.client_pem(context, "the admin API")
        try:
            name = identity.operator_from_certificate(identity.load_client_certificate(pem))
        except (IdentityError, ValueError) as err:
            log.warning("admin call from %s refused: %s", context.peer(), err)
            await rpc.abort(context, grpc.StatusCode.PERMISSION_DENIED,
                         f"the admin API is for operators only: {err}")
        if name not in self._allowed:
            log.warning("admin call by operator %r refused: not in gateway.admin_identities", name)
            await rpc.abort(context, grpc.StatusCode.PERMISSION_DENIED,
                         f"operator {name!r} is not listed in gateway.admin_identities")
        return name

    async def apply_tenant(self, data: bytes, context: rpc.Context) -> admin_pb2.TenantRecord:
        operator = await self._operator(context)
        request = await rpc.parse(admin_pb2.ApplyTenantRequest, data, context)
        trust = self._repository.trust
        try:
            row = await asyncio.to_thread(trust.apply_tenant, spec_of(request))
        except (RegionChangeError, RetiredTenantError) as err:
            # The same request will be refused again: the operator reports it, no retry.
            await rpc.abort(context, grpc.StatusCode.FAILED_PRECONDITION, str(err))
        except TenantFieldError as err:
            await rpc.abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"{err.field}: {err}")
        except (TrustError, ValueError, OverflowError) as err:
            await rpc.abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(err))
        usage = await asyncio.to_thread(trust.usage, row.tenant)
        log.info("operator %s applied tenant %s (%s, agreement %s, max_agents %s, "
                 "max_devices %s)", operator, row.tenant, row.region,
                 f"signed, {row.dpa_document_ref}" if row.dpa_signed else "not signed",
                 row.max_agents, row.max_devices)
        return record(row, usage)

    async def retire_tenant(self, data: bytes, context: rpc.Context
                            ) -> admin_pb2.RetireTenantResponse:
        operator = await self._operator(context)
        request = await rpc.parse(admin_pb2.RetireTenantRequest, data, context)
        trust = self._repository.trust
        try:
            identity.check_name("tenant", request.tenant)
        except IdentityError as err:
            await rpc.abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"tenant: {err}")
        if await asyncio.to_thread(trust.tenant, request.tenant) is None:
            await rpc.abort(context, grpc.StatusCode.NOT_FOUND, f"no tenant {request.tenant!r}")
        # The store first: the gateway checks it on every call, so the tenant's agents and
        # codes are refused from here on whatever happens to Vault and the broker.
        retired = await asyncio.to_thread(trust.retire_tenant, request.tenant)
        usage = await asyncio.to_thread(trust.usage, request.tenant)
        incomplete = await self._outside(retired.tenant.tenant, retired.agents, retired.serials)
        log.warning("operator %s retired tenant %s: %d agents refused%s", operator,
                    request.tenant, len(retired.agents),
                    f"; incomplete: {'; '.join(incomplete)}" if incomplete else "")
        return admin_pb2.RetireTenantResponse(tenant=record(retired.tenant, usage),
                                              revoked_agents=retired.agents,
                                              incomplete=incomplete)

    async def _outside(self, tenant: str, agents: tuple[str, ...], serials: tuple[str, ...]
                       ) -> list[str]:
        """Put the certificates on Vault's CRL and drop the broker accounts; what failed."""
        failed: list[str] = []
        if self._signer is not None:
            for serial in serials:
                try:
                    await asyncio.to_thread(self._signer.revoke_now, serial)
                except CloudError as err:
                    failed.append(f"Vault revocation of {serial}: {err}")
        if self._broker is not None:
            for agent_id in agents:
                try:
                    await asyncio.to_thread(self._broker.remove_now, AgentKey(tenant, agent_id))
                except CloudError as err:
                    failed.append(f"broker account of {agent_id}: {err}")
        return failed
