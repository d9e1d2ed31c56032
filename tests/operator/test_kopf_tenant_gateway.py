"""A Tenant under kopf + kmock reaches a real gateway process (`kdfm-cloud serve`) through the
TenantAdmin API with the operator's own client certificate: create, sign, delete -> retired."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kdfm_cloud.devstack.openbao import Vault
from kdfm_cloud.store import open_repository

from ..cloud.kit import Service, free_tcp_port, wait_listening
from ..identity.kit import make_kit, operator_identity
from .resources import API, DPA, NS, broker_objects, tenant

pytestmark = [pytest.mark.vault, pytest.mark.e2e]


def gateway_process(directory: Path, vault: Vault) -> tuple[Service, str, str, Path]:
    """`kdfm-cloud serve` with Vault-issued TLS that lets operator "platform" administer."""
    kit = make_kit(directory, vault)
    kit.repository.close()
    port = free_tcp_port()
    config = directory / "cloud.yaml"
    config.write_text(yaml.safe_dump({
        "gateway": {"listen": f"127.0.0.1:{port}", "shutdown_grace_seconds": 2.0,
                    "admin_identities": ["platform"],
                    "tls": {"cert_file": kit.settings.tls.cert_file,
                            "key_file": kit.settings.tls.key_file,
                            "client_ca_file": str(kit.pki_bundle)}},
        "store": {"database": kit.database},
    }))
    service = Service([sys.executable, "-m", "kdfm_cloud.cli", "serve", "--config", str(config)],
                      directory / "gateway.log")
    return service, f"127.0.0.1:{port}", kit.database, kit.pki_bundle


def test_tenant_reaches_the_gateway_and_is_retired_on_delete(
    vault: Vault,
    tmp_path: Path,
    operator_cluster: Callable[..., Any],
    quick_settings: Callable[..., Any],
) -> None:
    service, address, database, ca_file = gateway_process(tmp_path / "gateway", vault)
    cert, key = operator_identity(vault, tmp_path, "platform")
    token_file = tmp_path / "token"
    token_file.write_text(vault.token)
    settings = quick_settings(
        vault_address=vault.addr, vault_token_file=token_file, vault_pki_mount=vault.int_mount,
        gateway_address=address, gateway_cert_file=cert, gateway_key_file=key,
        gateway_ca_file=ca_file, gateway_timeout_s=10.0,
    )
    service.start()
    repository = open_repository(database)
    try:
        wait_listening(int(address.rsplit(":", 1)[1]))

        async def scenario() -> None:
            async with operator_cluster(settings) as k:
                for obj in broker_objects(vault):
                    await k.kube.apply(obj)
                await k.kube.apply(tenant("initech", signed=False))

                def condition(reason: str, generation: int = 1) -> Any:
                    return k.condition_with(
                        "Tenant", NS, "initech", reason=reason, generation=generation
                    )

                # Unsigned: on the gateway with its region and quotas, but not active.
                await k.wait_for("AgreementNotSigned", lambda: condition("AgreementNotSigned"))
                row = repository.trust.tenant("initech")
                assert row is not None and row.region == "eu-central" and not row.dpa_signed
                assert (row.max_agents, row.max_devices) == (3, 100)
                obj = await k.get("Tenant", NS, "initech")
                assert obj is not None and obj["status"]["gateway"]["active"] is False

                # Signed on the CR: the gateway holds the agreement; Ready names the record.
                await k.kube.patch(
                    API, "Tenant", NS, "initech", {"spec": {"dataProcessingAgreement": DPA}}
                )
                ready = await k.wait_for("Ready", lambda: condition("Reconciled", 2))
                assert ready["status"] == "True" and "gateway's tenant record" in ready["message"]
                row = repository.trust.tenant("initech")
                assert row is not None and row.dpa_signed_by == DPA["signedBy"]
                obj = await k.get("Tenant", NS, "initech")
                assert obj is not None and obj["status"]["gateway"]["active"] is True

                # A region change on the CR: the gateway refuses; the operator stops retrying.
                await k.kube.patch(API, "Tenant", NS, "initech", {"spec": {"region": "eu-west"}})
                refused = await k.wait_for("GatewayRefused", lambda: condition("GatewayRefused", 3))
                assert refused["status"] == "False" and "cannot change" in refused["message"]
                assert repository.trust.tenant("initech").region == "eu-central"  # type: ignore[union-attr]
                await k.kube.patch(API, "Tenant", NS, "initech", {"spec": {"region": "eu-central"}})
                await k.wait_for("Ready again", lambda: condition("Reconciled", 4))

                # Delete: the finalizer retires the tenant on the gateway, then lets go.
                await k.kube.delete(API, "Tenant", NS, "initech")
                await k.wait_for("initech released", lambda: k.gone("Tenant", NS, "initech"))
                row = repository.trust.tenant("initech")
                assert row is not None and not row.dpa_signed  # retired: codes refused

        asyncio.run(scenario())
    finally:
        repository.close()
        service.ensure_stopped()


def test_gateway_away_is_reported_and_retried(
    tmp_path: Path, vault: Vault, operator_cluster: Callable[..., Any],
    quick_settings: Callable[..., Any],
) -> None:
    cert, key = operator_identity(vault, tmp_path, "platform")
    token_file = tmp_path / "token"
    token_file.write_text(vault.token)
    settings = quick_settings(
        vault_address=vault.addr, vault_token_file=token_file, vault_pki_mount=vault.int_mount,
        gateway_address=f"127.0.0.1:{free_tcp_port()}", gateway_cert_file=cert,
        gateway_key_file=key, gateway_ca_file=cert, gateway_timeout_s=2.0,
    )

    async def scenario() -> None:
        async with operator_cluster(settings) as k:
            await k.kube.apply(tenant("umbrella", signed=True))
            c = await k.wait_for(
                "GatewayUnavailable",
                lambda: k.condition_with("Tenant", NS, "umbrella", reason="GatewayUnavailable"),
            )
            assert c["status"] == "False" and "UNAVAILABLE" in c["message"]
            # The way out when the gateway is gone for good.
            await k.kube.patch(API, "Tenant", NS, "umbrella", {"metadata": {
                "annotations": {"fleet.kdfm.io/skip-cleanup": "true"}}})
            await k.kube.delete(API, "Tenant", NS, "umbrella")
            await k.wait_for(
                "umbrella released", lambda: k.gone("Tenant", NS, "umbrella"), limit_s=60
            )

    asyncio.run(scenario())
