"""Operator settings: one frozen dataclass, every field with a default, a type and one sentence."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import get_args, get_type_hints


def _default_crd_dir() -> Path:
    # Source tree layout: operator/kdfm_operator/settings.py -> <repo>/charts/kdfm-crds/templates.
    return Path(__file__).resolve().parents[2] / "charts" / "kdfm-crds" / "templates"


@dataclass(frozen=True)
class OperatorSettings:
    """How the operator behaves; read from ``KDFM_OPERATOR_<FIELD>`` environment variables."""

    crd_dir: Path = field(default_factory=_default_crd_dir)
    """Directory of the CRD YAML (the kdfm-crds chart's templates): the one copy of the CRDs."""

    namespace: str | None = None
    """Namespace to watch; None watches the whole cluster."""

    retry_delay_s: float = 30.0
    """Seconds before a handler retries after a temporary error that has no backoff of its own."""

    backoff_base_s: float = 30.0
    """Delay in seconds after the first failed certificate issuance; it doubles per failure."""

    backoff_max_s: float = 3600.0
    """Longest delay in seconds between two certificate issuance attempts."""

    renewal_check_s: float = 60.0
    """Seconds between checks whether a certificate reached its renewal time or backoff ended."""

    resync_interval_s: float = 300.0
    """Seconds between full re-reconciles of Tenants and Brokers (picks up dependency changes)."""

    vault_timeout_s: float = 10.0
    """Seconds to wait for one Vault HTTP request before counting Vault as unreachable."""

    ca_expiry_margin_s: float = 300.0
    """Seconds a certificate must end before its CA does (Vault refuses a leaf outliving its CA)."""

    agent_cert_max_ttl: str = "720h"
    """Longest lifetime (Go duration) of an agent certificate issued by a tenant's Vault role."""

    vault_address: str = "http://127.0.0.1:8200"
    """Vault address used for tenant roles and policies."""

    vault_token_file: Path | None = None
    """File holding the Vault token used for tenant roles and policies; None reads VAULT_TOKEN."""

    vault_pki_mount: str = "pki_int"
    """PKI mount that signs agent certificates."""

    cloud_broker_username: str = "kdfm-cloud"
    """Broker user the cloud side connects as; it may use every tenant's topics."""

    gateway_address: str = ""
    """host:port of the gateway's mutual-TLS port for tenant records; empty: not synced."""

    gateway_server_name: str = ""
    """Name the gateway's certificate must carry when it differs from the address's host."""

    gateway_cert_file: Path = Path("/var/run/kdfm/gateway-client/tls.crt")
    """PEM client certificate (URI SAN kdfm://operator/<name>) the operator presents."""

    gateway_key_file: Path = Path("/var/run/kdfm/gateway-client/tls.key")
    """PEM private key of gateway_cert_file."""

    gateway_ca_file: Path = Path("/var/run/kdfm/gateway-client/ca.crt")
    """PEM bundle that signs the gateway's certificate."""

    gateway_timeout_s: float = 10.0
    """Seconds one gateway call may take before the gateway counts as unavailable."""

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> OperatorSettings:
        """Build settings from ``KDFM_OPERATOR_*`` variables, keeping defaults for absent ones."""
        env = dict(os.environ if environ is None else environ)
        types = get_type_hints(cls)
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(f"KDFM_OPERATOR_{f.name.upper()}")
            if raw is None:
                continue
            kinds = {types[f.name], *get_args(types[f.name])}
            if Path in kinds:
                values[f.name] = Path(raw)
            elif float in kinds:
                try:
                    values[f.name] = float(raw)
                except ValueError as err:
                    raise ValueError(
                        f"KDFM_OPERATOR_{f.name.upper()}={raw!r} is not a number of seconds"
                    ) from err
            else:
                values[f.name] = raw
        return cls(**values)  # type: ignore[arg-type]
