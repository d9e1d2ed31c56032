"""What the handlers share: settings, the API connection, Vault clients and the clock."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from kdfm_operator.clients.gateway import GatewayClient
from kdfm_operator.clients.kube import Connection, KubeClient
from kdfm_operator.clients.vault import VaultClient
from kdfm_operator.errors import VaultTokenFileError, VaultTokenMissingError
from kdfm_operator.settings import OperatorSettings


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class OperatorContext:
    """Built once by ``kdfm-operator run`` (or a test) and closed over by every handler."""

    settings: OperatorSettings = field(default_factory=OperatorSettings)
    connection: Connection | None = None
    login_error: str | None = None
    """Why the login failed for good (kopf then stops); None until that happens."""
    clock: Callable[[], datetime] = _utc_now
    broker_locks: dict[tuple[str, str], asyncio.Lock] = field(default_factory=dict)
    ca_files: dict[str, str] = field(default_factory=dict)
    """Vault CA bundle PEM -> the file written for it (hvac verifies against a file)."""

    def kube(self) -> KubeClient:
        """A client for the API server kopf logged in to."""
        if self.connection is None:
            raise RuntimeError("no API connection yet: the login handler has not run")
        return KubeClient(self.connection)

    def vault(self, address: str, token: str, ca_pem: str | None = None) -> VaultClient:
        """A Vault client; a CA bundle from a Secret is written to a file because hvac wants one."""
        verify: bool | str = True
        if ca_pem:
            verify = self._ca_file(ca_pem)
        return VaultClient(address, token, timeout_s=self.settings.vault_timeout_s, verify=verify)

    def _ca_file(self, ca_pem: str) -> str:
        # One file per distinct bundle for the life of the context, not one per issuance: the
        # few CA bundles in use are written once and reused by every later client.
        path = self.ca_files.get(ca_pem)
        if path is None or not os.path.exists(path):
            fd, path = tempfile.mkstemp(prefix="kdfm-vault-ca-", suffix=".pem")
            with os.fdopen(fd, "w") as handle:
                handle.write(ca_pem)
            self.ca_files[ca_pem] = path
        return path

    def operator_vault(self) -> VaultClient:
        """The operator's own Vault client (tenant roles and policies).

        Raises VaultTokenFileError (retried) when the token file cannot be read or is empty,
        VaultTokenMissingError when no token is configured at all.
        """
        token_file = self.settings.vault_token_file
        if token_file is not None:
            try:
                token = token_file.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as err:
                reason = getattr(err, "strerror", None) or type(err).__name__
                raise VaultTokenFileError(
                    f"the Vault token file {token_file} (KDFM_OPERATOR_VAULT_TOKEN_FILE) cannot "
                    f"be read: {reason}"
                ) from err
            if not token:
                raise VaultTokenFileError(
                    f"the Vault token file {token_file} (KDFM_OPERATOR_VAULT_TOKEN_FILE) is empty"
                )
        else:
            token = os.environ.get("VAULT_TOKEN", "")
            if not token:
                raise VaultTokenMissingError(
                    "no Vault token: set KDFM_OPERATOR_VAULT_TOKEN_FILE or VAULT_TOKEN"
                )
        return VaultClient(
            self.settings.vault_address, token, timeout_s=self.settings.vault_timeout_s
        )

    def gateway(self) -> GatewayClient | None:
        """A client for the gateway's TenantAdmin API; None when no gateway is configured."""
        s = self.settings
        if not s.gateway_address:
            return None
        return GatewayClient(
            s.gateway_address,
            cert_file=s.gateway_cert_file,
            key_file=s.gateway_key_file,
            ca_file=s.gateway_ca_file,
            timeout_s=s.gateway_timeout_s,
            server_name=s.gateway_server_name,
        )

    def broker_lock(self, namespace: str, name: str) -> asyncio.Lock:
        """One lock per broker: two tenants changing at once must not interleave its config."""
        return self.broker_locks.setdefault((namespace, name), asyncio.Lock())
