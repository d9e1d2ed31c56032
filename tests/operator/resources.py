"""Custom resources the operator's kopf tests create: Tenants, and a Broker with its certificate."""

from __future__ import annotations

import base64
from typing import Any

from kdfm_cloud.devstack.openbao import Vault

NS = "fleet"
API = "fleet.kdfm.io/v1alpha1"
DPA = {"signedBy": "Erika Mustermann", "signedAt": "2026-03-02T09:15:00Z", "documentRef": "DPA-1"}


def tenant(name: str, *, signed: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "displayName": name.title(),
        "region": "eu-central",
        "quotas": {"maxAgents": 3, "maxDevices": 100},
        "brokerRef": {"name": "main"},
    }
    if signed:
        spec["dataProcessingAgreement"] = DPA
    return {
        "apiVersion": API,
        "kind": "Tenant",
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }


def broker_objects(vault: Vault) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "vault-token", "namespace": NS},
            "data": {"token": base64.b64encode(vault.token.encode()).decode()},
        },
        {
            "apiVersion": API,
            "kind": "VaultCertificate",
            "metadata": {"name": "main-cert", "namespace": NS},
            "spec": {
                "commonName": "mqtt.kdfm.test",
                "dnsNames": ["mqtt.kdfm.test"],
                "duration": "24h",
                "issuer": {
                    "vaultAddress": vault.addr,
                    "pkiMount": vault.int_mount,
                    "role": vault.role,
                    "authRef": {"secretName": "vault-token"},
                },
                "secretName": "main-broker-tls",
            },
        },
        {
            "apiVersion": API,
            "kind": "Broker",
            "metadata": {"name": "main", "namespace": NS},
            "spec": {"replicas": 2, "tlsCertificateRef": {"name": "main-cert"}},
        },
    ]
