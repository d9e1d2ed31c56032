"""Tenant and Broker under kopf + kmock with real OpenBao: create, status, update, delete."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kdfm_cloud.devstack.openbao import Vault
from kdfm_operator.clients.vault import VaultClient

from .resources import API, DPA, NS, broker_objects, tenant

pytestmark = [pytest.mark.vault, pytest.mark.e2e]
def acl_of(secret: dict[str, Any] | None) -> str:
    assert secret is not None
    return base64.b64decode(secret["data"]["acl"]).decode()


def test_tenant_and_broker_lifecycle(
    vault: Vault,
    tmp_path: Path,
    operator_cluster: Callable[..., Any],
    quick_settings: Callable[..., Any],
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(vault.token)
    settings = quick_settings(
        vault_address=vault.addr, vault_token_file=token_file, vault_pki_mount=vault.int_mount
    )
    admin = VaultClient(vault.addr, vault.token, timeout_s=30)

    async def scenario() -> None:
        async with operator_cluster(settings) as k:
            for obj in broker_objects(vault):
                await k.kube.apply(obj)
            await k.kube.apply(tenant("acme", signed=True))
            await k.kube.apply(tenant("globex", signed=False))

            def ready(kind: str, name: str, status: str, reason: str) -> Any:
                return k.condition_with(kind, NS, name, status=status, reason=reason)

            await k.wait_for("broker Ready", lambda: ready("Broker", "main", "True", "Reconciled"))
            acme = await k.wait_for(
                "acme Ready", lambda: ready("Tenant", "acme", "True", "Reconciled")
            )
            assert acme["observedGeneration"] == 1
            pending = await k.wait_for(
                "globex AgreementNotSigned",
                lambda: ready("Tenant", "globex", "False", "AgreementNotSigned"),
            )
            assert "activation codes are refused" in pending["message"]
            globex = await k.get("Tenant", NS, "globex")
            assert globex["status"]["agreementSigned"] is False
            acme_obj = await k.get("Tenant", NS, "acme")
            assert acme_obj["status"]["topicNamespace"] == "kdfm/v1/acme/#"
            assert "fleet.kdfm.io/cleanup" in acme_obj["metadata"]["finalizers"]

            # Both tenants have their Vault role; only the signed one reaches the broker.
            for name in ("acme", "globex"):
                role = admin.read_role(vault.int_mount, f"kdfm-agent-{name}")
                assert role is not None
                assert role["allowed_uri_sans"] == [f"kdfm://tenant/{name}/agent/*"]
            assert admin.read_policy("kdfm-tenant-acme") is not None
            acl = acl_of(await k.get("Secret", NS, "main-mosquitto-auth"))
            assert "user acme\ntopic readwrite kdfm/v1/acme/#" in acl
            assert "globex" not in acl
            assert await k.get("Secret", NS, "globex-broker-credentials") is None
            for kind in ("ConfigMap", "Deployment", "Service", "PodDisruptionBudget"):
                obj = await k.get(
                    kind, NS, "main-mosquitto" + ("-config" if kind == "ConfigMap" else "")
                )
                assert obj is not None, kind
                assert obj["metadata"]["ownerReferences"][0]["name"] == "main"
            dep = await k.get("Deployment", NS, "main-mosquitto")
            volumes = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
            assert volumes["tls"]["secret"]["secretName"] == "main-broker-tls"
            broker = await k.get("Broker", NS, "main")
            assert broker["status"]["tenants"] == ["acme"]

            # Update: globex signs; generation 2; it gets a credential and broker entries.
            await k.kube.patch(
                API, "Tenant", NS, "globex", {"spec": {"dataProcessingAgreement": DPA}}
            )

            await k.wait_for(
                "globex Ready at generation 2",
                lambda: k.condition_with(
                    "Tenant", NS, "globex", status="True", reason="Reconciled", generation=2
                ),
            )
            acl = acl_of(await k.get("Secret", NS, "main-mosquitto-auth"))
            assert "user globex\ntopic readwrite kdfm/v1/globex/#" in acl
            assert await k.get("Secret", NS, "globex-broker-credentials") is not None

            # Delete: the finalizer removes role, policy and broker entries, then releases.
            await k.kube.delete(API, "Tenant", NS, "acme")
            await k.wait_for("acme released", lambda: k.gone("Tenant", NS, "acme"))
            assert admin.read_role(vault.int_mount, "kdfm-agent-acme") is None
            assert admin.read_policy("kdfm-tenant-acme") is None
            acl = acl_of(await k.get("Secret", NS, "main-mosquitto-auth"))
            assert "acme" not in acl and "globex" in acl
            # Clean the other tenant too (shared session Vault).
            await k.kube.delete(API, "Tenant", NS, "globex")
            await k.wait_for("globex released", lambda: k.gone("Tenant", NS, "globex"))

    asyncio.run(scenario())


def test_skip_cleanup_annotation_releases_without_vault(
    tmp_path: Path, operator_cluster: Callable[..., Any], quick_settings: Callable[..., Any]
) -> None:
    # Vault that never answers (nothing listens on this loopback port): the documented way out.
    token_file = tmp_path / "token"
    token_file.write_text("unused")
    settings = quick_settings(
        vault_address="http://127.0.0.1:9", vault_token_file=token_file, vault_timeout_s=1.0
    )

    async def scenario() -> None:
        async with operator_cluster(settings) as k:
            await k.kube.apply(tenant("orphan", signed=True))
            cond = await k.wait_for(
                "VaultUnavailable",
                lambda: k.condition_with("Tenant", NS, "orphan", reason="VaultUnavailable"),
            )
            assert cond["status"] == "False" and "unreachable" in cond["message"]
            await k.kube.delete(API, "Tenant", NS, "orphan")

            async def cleanup_retried() -> Any:
                obj = await k.get("Tenant", NS, "orphan")
                notes = (obj or {}).get("metadata", {}).get("annotations", {})
                progress = [v for key, v in notes.items() if key.endswith("tenant_deleted")]
                retried = progress and json.loads(progress[0]).get("retries", 0) >= 1
                return obj if retried else None

            # The finalizer holds the Tenant while Vault is away; kopf keeps retrying.
            held = await k.wait_for("a retried cleanup", cleanup_retried)
            assert held["metadata"]["deletionTimestamp"]
            assert "unreachable" in next(
                v
                for key, v in held["metadata"]["annotations"].items()
                if key.endswith("tenant_deleted")
            )
            await k.kube.patch(
                API,
                "Tenant",
                NS,
                "orphan",
                {"metadata": {"annotations": {"fleet.kdfm.io/skip-cleanup": "true"}}},
            )
            await k.wait_for(
                "release with skip-cleanup", lambda: k.gone("Tenant", NS, "orphan"), limit_s=60
            )

    asyncio.run(scenario())
