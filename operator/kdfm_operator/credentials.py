"""Broker credentials: a random password and its Mosquitto hash, kept together in a Secret."""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Mapping
from typing import Any

from kdfm_operator.reconcile.broker import SALT_BYTES, hash_password

MANAGED_BY = {"app.kubernetes.io/managed-by": "kdfm-operator"}
TENANT_COMPONENT = "tenant-broker-credentials"
"""The ``app.kubernetes.io/component`` of the tenants' broker credential Secrets."""
TENANT_SECRET_LABELS = {**MANAGED_BY, "app.kubernetes.io/component": TENANT_COMPONENT}
# A broker's sync lists the tenant credentials by these labels in one request.
TENANT_SECRET_SELECTOR = ",".join(f"{k}={v}" for k, v in sorted(TENANT_SECRET_LABELS.items()))


def credential_secret(
    name: str,
    namespace: str,
    owner: Mapping[str, Any],
    username: str,
    *,
    component: str | None = None,
) -> tuple[dict[str, Any], str]:
    """A Secret with a fresh credential (username, password, password hash) and that hash.

    ``owner`` is the ownerReference that lets Kubernetes collect the Secret with its owner;
    ``component`` becomes the ``app.kubernetes.io/component`` label when given.
    """
    labels = dict(MANAGED_BY)
    if component is not None:
        labels["app.kubernetes.io/component"] = component
    password = secrets.token_urlsafe(24)
    hashed = hash_password(password, os.urandom(SALT_BYTES))
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "ownerReferences": [dict(owner)],
        },
        "data": {
            k: encode_field(v)
            for k, v in (("username", username), ("password", password), ("passwordHash", hashed))
        },
    }
    return secret, hashed


def read_field(secret: Mapping[str, Any] | None, key: str) -> str | None:
    """One decoded field of a Secret's data, None when the Secret or the key is absent."""
    if not secret:
        return None
    raw = (secret.get("data") or {}).get(key)
    return base64.b64decode(raw).decode() if raw else None


def encode_field(text: str) -> str:
    """Text as a Secret's ``data`` holds it (base64); the inverse of ``read_field``."""
    return base64.b64encode(text.encode()).decode()
