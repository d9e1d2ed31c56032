"""Broker credentials: a random password and its Mosquitto hash, kept together in a Secret."""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Mapping
from typing import Any

from kdfm_operator.reconcile.broker import SALT_BYTES, hash_password


def new_credential_data(username: str) -> dict[str, str]:
    """Secret ``data`` (base64) for a fresh credential: username, password and password hash."""
    password = secrets.token_urlsafe(24)
    hashed = hash_password(password, os.urandom(SALT_BYTES))
    return {
        k: _b64(v)
        for k, v in (("username", username), ("password", password), ("passwordHash", hashed))
    }


def read_field(secret: Mapping[str, Any] | None, key: str) -> str | None:
    """One decoded field of a Secret's data, None when the Secret or the key is absent."""
    if not secret:
        return None
    raw = (secret.get("data") or {}).get(key)
    return base64.b64decode(raw).decode() if raw else None


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()
