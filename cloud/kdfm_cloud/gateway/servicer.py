"""What each AgentGateway call does. Requests arrive as bytes and are parsed here
(kdfm_cloud.gateway.rpc), so that a malformed message is answered INVALID_ARGUMENT.

Who calls is decided by the client certificate alone (kdfm_cloud.identity); the AgentRef in
a request must name that same agent or the call is refused before anything is stored.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
from concurrent.futures import Executor, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
from kdfm_proto.v1 import gateway_pb2

from kdfm_cloud import identity
from kdfm_cloud.agentbroker import AgentBroker, BrokerAdminError
from kdfm_cloud.agentpki import AgentSigner, CsrError, check_csr
from kdfm_cloud.errors import IdentityError
from kdfm_cloud.gateway import rpc
from kdfm_cloud.gateway.validate import rejection
from kdfm_cloud.settings import GatewaySettings
from kdfm_cloud.store import AgentKey, Repository, TaskLease
from kdfm_cloud.store.trust import EnrollLimits
from kdfm_cloud.vaultpki import (
    PkiRefusedError,
    PkiUnavailableError,
    SignedCertificate,
    vault_serial,
)

log = logging.getLogger(__name__)

SERVICE = "kdfm.v1.AgentGateway"
ACTIVATION_REFUSED = "activation refused"
"""The one answer to every refused code: unknown, expired, burned, used and wrong-tenant alike."""
_OUTCOMES = {
    gateway_pb2.TASK_OUTCOME_SUCCEEDED: "succeeded",
    gateway_pb2.TASK_OUTCOME_FAILED: "failed",
    gateway_pb2.TASK_OUTCOME_REJECTED: "rejected",
}


class GatewayServicer:
    """The AgentGateway calls on a repository. Store calls run in worker threads."""

    def __init__(self, repository: Repository, settings: GatewaySettings, *,
                 advertise: str, signer: AgentSigner | None = None,
                 broker: AgentBroker | None = None) -> None:
        self._repository = repository
        self._settings = settings
        self._signer = signer
        self._broker = broker
        self._advertise = advertise
        enroll = settings.enroll
        self._limits = EnrollLimits(per_code=enroll.max_failures_per_code,
                                    per_source=enroll.max_failures_per_source,
                                    source_window=timedelta(seconds=enroll.source_window_seconds))
        self._ca_bundle: bytes | None = None
        self._lease = TaskLease(duration=timedelta(seconds=settings.task_lease_seconds),
                                max_deliveries=settings.task_max_deliveries)
        # Uploads are stored one at a time, in a thread of their own. Storing is Python-bound
        # (the GIL): two uploads at once only fought over it (PostgreSQL: 25 % more CPU per
        # reading, bench/ingest), and SQLite writes one transaction at a time anyway. The other
        # calls keep asyncio's default executor and do not queue behind uploads.
        self._uploads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kdfm-upload")

    def close(self) -> None:
        """Wait for the upload being stored, if any, and end the uploads' thread.

        Call it after the server has stopped: an upload the grace period cut off may still be
        running on that thread, and its transaction is let finish (commit or roll back).
        """
        self._uploads.shutdown(wait=True)

    def handler(self) -> grpc.GenericRpcHandler[Any, Any]:
        """The generic handler to add to a grpc.aio server."""
        return rpc.handler(SERVICE, {
            "Enroll": (self.enroll, gateway_pb2.EnrollResponse),
            "Poll": (self.poll, gateway_pb2.PollResponse),
            "UploadReadings": (self.upload_readings, gateway_pb2.UploadReadingsResponse),
            "ReportTaskResult": (self.report_task_result, gateway_pb2.ReportTaskResultResponse),
            "RenewCertificate": (self.renew_certificate, gateway_pb2.EnrollResponse),
        })

    # -- plumbing -------------------------------------------------------------------------

    async def _caller(self, context: grpc.aio.ServicerContext[Any, Any],
                      ref: gateway_pb2.AgentRef, executor: Executor | None = None) -> AgentKey:
        """The agent of the client certificate; aborts unless it is known, unrevoked and `ref`.

        `executor` runs the revocation check (None: asyncio's default executor).
        """
        pem = await rpc.client_pem(context, "the gateway")
        try:
            certificate = identity.load_client_certificate(pem)
            agent = identity.agent_from_certificate(certificate)
        except IdentityError as err:
            await rpc.abort(context, grpc.StatusCode.UNAUTHENTICATED, str(err))
        serial = vault_serial(certificate.serial_number)
        refusal = await asyncio.get_running_loop().run_in_executor(
            executor, self._repository.trust.refusal, agent, serial)
        if refusal is not None:
            log.warning("agent %s/%s refused: %s", agent.tenant, agent.agent_id, refusal)
            await rpc.abort(context, grpc.StatusCode.UNAUTHENTICATED,
                         f"client certificate refused: {refusal}")
        if (ref.tenant, ref.agent_id) != (agent.tenant, agent.agent_id):
            log.warning("agent %s/%s sent AgentRef %s/%s: refused", agent.tenant,
                        agent.agent_id, ref.tenant, ref.agent_id)
            await rpc.abort(context, grpc.StatusCode.PERMISSION_DENIED,
                         f"AgentRef {ref.tenant!r}/{ref.agent_id!r} does not match the client "
                         f"certificate ({agent.tenant!r}/{agent.agent_id!r})")
        return agent

    # -- calls ----------------------------------------------------------------------------

    async def enroll(self, data: bytes, context: grpc.aio.ServicerContext[Any, Any]
                     ) -> gateway_pb2.EnrollResponse:
        if self._signer is None:
            await rpc.abort(context, grpc.StatusCode.UNIMPLEMENTED,
                         "enrolment is not configured on this gateway (vault.addr)")
        request = await rpc.parse(gateway_pb2.EnrollRequest, data, context)
        try:
            check_csr(request.csr_pem)
        except CsrError as err:
            await rpc.abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(err))
        trust = self._repository.trust
        source = _source_address(context.peer())
        claim = await asyncio.to_thread(trust.claim_code, request.activation_code, source,
                                        self._limits)
        if claim.quota_refusal is not None:
            # Said plainly: the code is good and stays good; RESOURCE_EXHAUSTED is not counted
            # toward the agent's activation lockout.
            log.warning("enrolment from %s refused: %s", source, claim.quota_refusal)
            await rpc.abort(context, grpc.StatusCode.RESOURCE_EXHAUSTED, claim.quota_refusal)
        if claim.tenant is None or claim.code_id is None:
            # The reason goes to our log only; the caller learns nothing about the code.
            log.warning("enrolment from %s refused: %s", source, claim.why)
            await rpc.abort(context, grpc.StatusCode.UNAUTHENTICATED, ACTIVATION_REFUSED)
        agent = AgentKey(claim.tenant, f"agent-{secrets.token_hex(8)}")
        signed = await self._sign(agent, request.csr_pem, context, release=claim.code_id)
        await asyncio.to_thread(trust.enrolled, claim.code_id, agent, request.hostname,
                                signed.serial, signed.not_after)
        if self._broker is not None:
            try:
                await self._broker.add(agent)
            except BrokerAdminError as err:
                # Enrolled all the same: without nudges the agent still polls.
                log.error("agent %s/%s has no broker account: %s", agent.tenant,
                          agent.agent_id, err)
        log.info("agent %s/%s enrolled from %s (host %r), certificate %s until %s",
                 agent.tenant, agent.agent_id, source, request.hostname[:64], signed.serial,
                 signed.not_after.isoformat())
        return await self._answer(agent, signed)

    async def renew_certificate(self, data: bytes, context: grpc.aio.ServicerContext[Any, Any]
                                ) -> gateway_pb2.EnrollResponse:
        request = await rpc.parse(gateway_pb2.RenewCertificateRequest, data, context)
        agent = await self._caller(context, request.agent)
        if self._signer is None:
            await rpc.abort(context, grpc.StatusCode.UNIMPLEMENTED,
                         "renewal is not configured on this gateway (vault.addr)")
        try:
            check_csr(request.csr_pem)
        except CsrError as err:
            await rpc.abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(err))
        signed = await self._sign(agent, request.csr_pem, context)
        await asyncio.to_thread(self._repository.trust.certificate_issued, agent, signed.serial,
                                signed.not_after)
        log.info("agent %s/%s renewed: certificate %s until %s", agent.tenant, agent.agent_id,
                 signed.serial, signed.not_after.isoformat())
        return await self._answer(agent, signed)

    async def _sign(self, agent: AgentKey, csr_pem: bytes,
                    context: grpc.aio.ServicerContext[Any, Any],
                    release: str | None = None) -> SignedCertificate:
        assert self._signer is not None
        try:
            return await self._signer.sign(agent, csr_pem)
        except (PkiUnavailableError, PkiRefusedError) as err:
            if release is not None:  # our failure, not the agent's: the code stays good
                await asyncio.to_thread(self._repository.trust.release_code, release)
            log.error("signing for agent %s/%s failed: %s", agent.tenant, agent.agent_id, err)
            if isinstance(err, PkiUnavailableError):
                await rpc.abort(context, grpc.StatusCode.UNAVAILABLE,
                             "the certificate authority is unavailable; try again later")
            await rpc.abort(context, grpc.StatusCode.INVALID_ARGUMENT,
                         "the certificate authority refused to sign this request")

    async def _answer(self, agent: AgentKey, signed: SignedCertificate
                      ) -> gateway_pb2.EnrollResponse:
        response = gateway_pb2.EnrollResponse(
            agent=gateway_pb2.AgentRef(tenant=agent.tenant, agent_id=agent.agent_id),
            certificate_pem=signed.certificate_pem, chain_pem=signed.chain_pem,
            ca_bundle_pem=await self._bundle(), gateway=self._advertise)
        response.not_after.FromDatetime(signed.not_after.astimezone(UTC).replace(tzinfo=None))
        return response

    async def _bundle(self) -> bytes:
        path = self._settings.enroll.ca_bundle_file
        if self._ca_bundle is None and path:
            self._ca_bundle = await asyncio.to_thread(Path(path).read_bytes)
        return self._ca_bundle or b""

    async def poll(self, data: bytes, context: grpc.aio.ServicerContext[Any, Any]
                   ) -> gateway_pb2.PollResponse:
        request = await rpc.parse(gateway_pb2.PollRequest, data, context)
        agent = await self._caller(context, request.agent)
        await asyncio.to_thread(self._repository.record_poll, agent, request.agent_version,
                                request.spooled_readings)
        tasks = await asyncio.to_thread(self._repository.take_tasks, agent,
                                        self._settings.max_tasks_per_poll, self._lease)
        config = await asyncio.to_thread(self._repository.config_if_changed, agent,
                                         request.config_version)
        response = gateway_pb2.PollResponse(
            tasks=tasks, next_poll_seconds=self._settings.poll_interval_seconds)
        if config is not None:
            response.config.CopyFrom(config)
        return response

    async def upload_readings(self, data: bytes, context: grpc.aio.ServicerContext[Any, Any]
                              ) -> gateway_pb2.UploadReadingsResponse:
        request = await rpc.parse(gateway_pb2.UploadReadingsRequest, data, context)
        # The check on the uploads' thread too: on SQLite it would otherwise wait for the
        # database behind the upload being stored, and leave that thread idle afterwards.
        agent = await self._caller(context, request.agent, self._uploads)
        limit = self._settings.max_readings_per_upload
        if len(request.readings) > limit:
            await rpc.abort(context, grpc.StatusCode.INVALID_ARGUMENT,
                         f"{len(request.readings)} readings in one upload; at most {limit}")
        response = gateway_pb2.UploadReadingsResponse()
        valid = []
        for reading in request.readings:
            reason = rejection(reading)
            if reason is None:
                valid.append(reading)
            else:
                response.rejected.add(reading_id=reading.reading_id, reason=reason)
        if valid:
            store = functools.partial(self._repository.store_readings, agent, valid,
                                      datetime.now(UTC))
            outcome = await asyncio.get_running_loop().run_in_executor(self._uploads, store)
            response.acknowledged.extend(outcome.acknowledged)
            for reading_id, reason in outcome.refused:
                response.rejected.add(reading_id=reading_id, reason=reason)
            if outcome.refused:
                log.warning("agent %s/%s: %d readings refused: %s", agent.tenant,
                            agent.agent_id, len(outcome.refused), outcome.refused[0][1])
            log.info("agent %s/%s: %d readings stored, %d replayed, %d rejected",
                     agent.tenant, agent.agent_id, len(outcome.stored), len(outcome.replayed),
                     len(response.rejected))
        return response

    async def report_task_result(self, data: bytes, context: grpc.aio.ServicerContext[Any, Any]
                                 ) -> gateway_pb2.ReportTaskResultResponse:
        request = await rpc.parse(gateway_pb2.ReportTaskResultRequest, data, context)
        agent = await self._caller(context, request.agent)
        outcome = _OUTCOMES.get(request.outcome)
        if outcome is None:
            await rpc.abort(context, grpc.StatusCode.INVALID_ARGUMENT,
                         "task outcome must be SUCCEEDED, FAILED or REJECTED")
        found = await asyncio.to_thread(self._repository.finish_task, agent, request.task_id,
                                        outcome, request.message)
        if not found:
            await rpc.abort(context, grpc.StatusCode.NOT_FOUND,
                         f"agent {agent.agent_id!r} has no task {request.task_id!r}")
        return gateway_pb2.ReportTaskResultResponse()


def _source_address(peer: str) -> str:
    """The address part of grpc's peer string ("ipv4:127.0.0.1:5000", "ipv6:[::1]:5000")."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv6":
        return rest.rpartition("]")[0].lstrip("[") or rest
    if kind == "ipv4":
        return rest.rpartition(":")[0] or rest
    return peer
