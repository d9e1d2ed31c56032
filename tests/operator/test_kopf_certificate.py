"""VaultCertificate under kopf + kmock with real OpenBao: create, status, update, renew, delete."""

from __future__ import annotations

import asyncio
import base64
import datetime
from collections.abc import Callable
from typing import Any

import pytest
from cryptography import x509
from kdfm_cloud.devstack.openbao import Vault
from kdfm_operator.clients.vault import VaultClient
from kdfm_operator.pem import certificate_info

pytestmark = [pytest.mark.vault, pytest.mark.e2e]
NS = "kdfm"
API = "fleet.kdfm.io/v1alpha1"
KIND = "VaultCertificate"


def token_secret(vault: Vault) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "vault-token", "namespace": NS},
        "data": {"token": base64.b64encode(vault.token.encode()).decode()},
    }


def certificate(vault: Vault, name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "VaultCertificate",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "commonName": f"{name}.kdfm.test",
            "dnsNames": [f"{name}.kdfm.test"],
            "duration": "2160h",
            "renewBefore": "24h",
            "usages": ["server auth"],
            "issuer": {
                "vaultAddress": vault.addr,
                "pkiMount": vault.int_mount,
                "role": vault.role,
                "authRef": {"secretName": "vault-token"},
            },
            "secretName": f"{name}-tls",
            **spec,
        },
    }


def leaf(secret: dict[str, Any]) -> x509.Certificate:
    return x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["tls.crt"]))


def test_certificate_lifecycle(
    vault: Vault,
    operator_cluster: Callable[..., Any],
    quick_settings: Callable[..., Any],
    clock: Any,
) -> None:
    async def scenario() -> None:
        async with operator_cluster(quick_settings(), clock=clock) as k:
            await k.kube.apply(token_secret(vault))
            await k.kube.apply(certificate(vault, "gw"))

            ready = await k.wait_for(
                "Ready=True",
                lambda: k.condition_with(KIND, NS, "gw", status="True", generation=1),
            )
            assert ready["reason"] == "Issued"
            obj = await k.get("VaultCertificate", NS, "gw")
            assert obj is not None
            status = obj["status"]
            assert status["observedGeneration"] == 1
            assert status["durationCappedBy"] == "RoleMaxTTL"
            assert status["grantedDuration"] == "720h"
            assert status["failedIssuanceAttempts"] == 0
            capped = {c["type"]: c for c in status["conditions"]}["DurationCapped"]
            assert capped["status"] == "True" and "max TTL" in capped["message"]
            secret = await k.get("Secret", NS, "gw-tls")
            assert secret is not None and secret["type"] == "kubernetes.io/tls"
            assert set(secret["data"]) == {"tls.crt", "tls.key", "ca.crt"}
            assert secret["metadata"]["ownerReferences"][0]["kind"] == "VaultCertificate"
            first = leaf(secret)
            assert (
                status["serial"]
                == certificate_info(base64.b64decode(secret["data"]["tls.crt"]).decode()).serial
            )
            renewal = datetime.datetime.fromisoformat(status["renewalTime"].replace("Z", "+00:00"))
            assert renewal == first.not_valid_after_utc - datetime.timedelta(hours=24)

            # Update: a new SAN means a new certificate; generation 2 is observed.
            await k.kube.patch(
                API,
                "VaultCertificate",
                NS,
                "gw",
                {"spec": {"dnsNames": ["gw.kdfm.test", "gw2.kdfm.test"]}},
            )
            await k.wait_for(
                "generation 2 observed",
                lambda: k.condition_with(KIND, NS, "gw", status="True", generation=2),
            )
            second = leaf(await k.get("Secret", NS, "gw-tls"))  # type: ignore[arg-type]
            assert second.serial_number != first.serial_number
            sans = second.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            assert "gw2.kdfm.test" in sans.value.get_values_for_type(x509.DNSName)

            # Renewal: move the clock past renewalTime; the timer renews without any spec change.
            clock.offset = datetime.timedelta(hours=720 - 23)
            third = await k.wait_for(
                "renewal by the timer",
                lambda: _new_serial(k, "gw-tls", second.serial_number),
            )
            clock.offset = datetime.timedelta(0)

            # Delete: the finalizer revokes the current serial, then the object goes.
            await k.kube.delete(API, "VaultCertificate", NS, "gw")
            await k.wait_for("the object to be released", lambda: k.gone(KIND, NS, "gw"))
            revoked = VaultClient(vault.addr, vault.token, timeout_s=30).revoked_serials(
                vault.int_mount
            )
            assert certificate_info(_pem(third)).serial in revoked

    asyncio.run(scenario())


def test_missing_token_secret_retries_then_recovers(
    vault: Vault, operator_cluster: Callable[..., Any], quick_settings: Callable[..., Any]
) -> None:
    async def scenario() -> None:
        async with operator_cluster(quick_settings()) as k:
            await k.kube.apply(certificate(vault, "early"))
            cond = await k.wait_for(
                "a failure condition",
                lambda: k.condition_with(
                    KIND, NS, "early", type_="Issuing", reason="DependencyNotReady"
                ),
            )
            assert cond["status"] == "True" and "vault-token" in cond["message"]
            obj = await k.get("VaultCertificate", NS, "early")
            assert obj is not None and obj["status"]["failedIssuanceAttempts"] >= 1
            await k.kube.apply(token_secret(vault))
            await k.wait_for(
                "recovery",
                lambda: k.condition_with(KIND, NS, "early", status="True", generation=1),
                limit_s=60,
            )
            obj = await k.get("VaultCertificate", NS, "early")
            assert obj is not None and obj["status"]["failedIssuanceAttempts"] == 0

    asyncio.run(scenario())


def test_invalid_spec_is_permanent(
    vault: Vault, operator_cluster: Callable[..., Any], quick_settings: Callable[..., Any]
) -> None:
    async def scenario() -> None:
        async with operator_cluster(quick_settings()) as k:
            await k.kube.apply(token_secret(vault))
            # kmock does not validate schemas; the operator must still refuse by name.
            await k.kube.apply(certificate(vault, "bad", duration="90d"))
            cond = await k.wait_for(
                "InvalidSpec",
                lambda: k.condition_with(KIND, NS, "bad", type_="Ready", reason="InvalidSpec"),
            )
            assert "90d" in cond["message"]
            assert await k.get("Secret", NS, "bad-tls") is None

    asyncio.run(scenario())


async def _new_serial(k: Any, secret: str, old: int) -> dict[str, Any] | None:
    s = await k.get("Secret", NS, secret)
    return s if s and leaf(s).serial_number != old else None


def _pem(secret: dict[str, Any]) -> str:
    return base64.b64decode(secret["data"]["tls.crt"]).decode()


@pytest.mark.faults
def test_sealed_vault_keeps_secret_and_recovers(
    openbao_server: Any,
    operator_cluster: Callable[..., Any],
    quick_settings: Callable[..., Any],
    clock: Any,
) -> None:
    import hvac  # noqa: PLC0415 - only this test drives Vault's seal directly

    vault = openbao_server.vault

    async def scenario() -> None:
        async with operator_cluster(quick_settings(), clock=clock) as k:
            await k.kube.apply(token_secret(vault))
            await k.kube.apply(certificate(vault, "mqtt"))
            await k.wait_for(
                "first issuance",
                lambda: k.condition_with(KIND, NS, "mqtt", status="True", generation=1),
            )
            before = await k.get("Secret", NS, "mqtt-tls")
            assert before is not None

            await asyncio.to_thread(hvac.Client(url=vault.addr, token=vault.token).sys.seal)
            clock.offset = datetime.timedelta(hours=720 - 23)  # renewal due now
            failed = await k.wait_for(
                "a failed renewal",
                lambda: k.condition_with(
                    KIND, NS, "mqtt", type_="Ready", reason="VaultUnavailable"
                ),
            )
            # The old certificate is still valid: Ready stays True, the Secret is untouched.
            assert failed["status"] == "True" and "sealed" in failed["message"]
            obj = await k.get("VaultCertificate", NS, "mqtt")
            assert obj["status"]["failedIssuanceAttempts"] >= 1
            assert obj["status"]["lastFailureTime"]
            assert (await k.get("Secret", NS, "mqtt-tls"))["data"] == before["data"]

            await asyncio.to_thread(
                hvac.Client(url=vault.addr).sys.submit_unseal_key, openbao_server.unseal_key
            )
            renewed = await k.wait_for(
                "renewal after unseal",
                lambda: _new_serial(k, "mqtt-tls", leaf(before).serial_number),
                limit_s=120,
            )
            assert renewed["data"]["tls.key"] != before["data"]["tls.key"]
            obj = await k.wait_for("failure counter reset", lambda: _reset(k, "mqtt"))
            assert obj["status"]["conditions"][0]["reason"] == "Issued"
            clock.offset = datetime.timedelta(0)

    asyncio.run(scenario())


async def _reset(k: Any, name: str) -> dict[str, Any] | None:
    obj = await k.get("VaultCertificate", NS, name)
    return obj if obj and obj["status"].get("failedIssuanceAttempts") == 0 else None
