"""Certificates from Vault/OpenBao's PKI (hvac): the gateway's server certificate and agent
client certificates with the identity kdfm_cloud.identity defines."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import hvac
import hvac.exceptions
import requests
from cryptography import x509

from kdfm_cloud import identity
from kdfm_cloud.errors import CloudError
from kdfm_cloud.pki import CertifiedKey
from kdfm_cloud.store import AgentKey


def _certified(data: dict[str, Any]) -> CertifiedKey:
    # Leaf then the issuing (intermediate) CA: peers trust the root and need the link to it.
    chain = f"{data['certificate'].strip()}\n{data['issuing_ca'].strip()}\n"
    return CertifiedKey(chain.encode(), data["private_key"].encode())


def issue_server(client: hvac.Client, mount: str, role: str, *,
                 hosts: tuple[str, ...] = ("localhost",),
                 addresses: tuple[str, ...] = ("127.0.0.1",), ttl: str = "720h") -> CertifiedKey:
    """A server certificate (with its issuing chain) for the gateway."""
    response = client.secrets.pki.generate_certificate(
        role, hosts[0], extra_params={"alt_names": ",".join(hosts),
                                      "ip_sans": ",".join(addresses), "ttl": ttl},
        mount_point=mount)
    return _certified(response["data"])


class PkiUnavailableError(CloudError):
    """Vault/OpenBao could not be reached, is sealed or failed: try again later."""

    retryable = True


class PkiRefusedError(CloudError):
    """Vault/OpenBao refused the request (bad CSR, role limits): retrying the same will not help."""


@dataclass(frozen=True, slots=True)
class SignedCertificate:
    """A certificate Vault signed for an agent's CSR, with what the agent must keep."""

    certificate_pem: bytes
    chain_pem: bytes
    serial: str
    not_after: datetime


def tenant_role(tenant: str) -> str:
    """The PKI role that signs the agents of one tenant."""
    return f"kdfm-agent-{identity.check_name('tenant', tenant)}"


def ensure_tenant_role(client: hvac.Client, mount: str, tenant: str,
                       max_ttl: str = "720h") -> str:
    """A role that signs client-auth-only certificates for this tenant's agents; its name.

    The CSR contributes its public key only: subject (CN = agent id, O = tenant) and the
    kdfm:// URI are set by the gateway, and the role refuses URIs of other tenants.
    `max_ttl` applies to a new role only: where the operator made the role from a Tenant, its
    lifetime cap is the platform team's and stays.
    """
    role = tenant_role(tenant)
    current = _vault(lambda: _read_role(client, mount, role))
    if current is not None and current.get("max_ttl"):
        max_ttl = f"{int(current['max_ttl'])}s"
    params = tenant_role_params(tenant, max_ttl)
    _vault(lambda: client.secrets.pki.create_or_update_role(role, params, mount_point=mount))
    return role


def tenant_role_params(tenant: str, max_ttl: str) -> dict[str, Any]:
    """The tenant role's Vault parameters, the same as kdfm_operator's role_params (a contract
    test keeps the two in step, as the layers forbid sharing the code)."""
    return {
        "allow_any_name": True, "enforce_hostnames": False, "allow_ip_sans": False,
        "allow_localhost": False,
        "allowed_uri_sans": [f"kdfm://tenant/{identity.check_name('tenant', tenant)}/agent/*"],
        "server_flag": False, "client_flag": True, "code_signing_flag": False,
        "email_protection_flag": False, "key_usage": ["DigitalSignature"],
        "key_type": "any", "signature_bits": 256, "organization": [tenant],
        "use_csr_common_name": False, "use_csr_sans": False, "max_ttl": max_ttl,
        "no_store": False,
    }


def _read_role(client: hvac.Client, mount: str, role: str) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = client.secrets.pki.read_role(role, mount_point=mount)["data"]
    except hvac.exceptions.InvalidPath:
        return None
    return data


def vault_serial(serial: int) -> str:
    """A certificate serial spelled the way Vault does: colon-separated hex octets."""
    text = f"{serial:x}"
    text = "0" * (len(text) % 2) + text
    return ":".join(text[i:i + 2] for i in range(0, len(text), 2))


def sign_agent(client: hvac.Client, mount: str, role: str, agent: AgentKey, csr_pem: bytes,
               *, ttl: str) -> SignedCertificate:
    """Sign an agent's CSR through `<mount>/sign/<role>` with the agent's identity."""
    response = _vault(lambda: client.secrets.pki.sign_certificate(
        role, csr_pem.decode("ascii"), agent.agent_id,
        extra_params={"uri_sans": identity.agent_uri(agent), "ttl": ttl,
                      "exclude_cn_from_sans": True, "format": "pem"},
        mount_point=mount))
    data = response["data"]
    chain = data.get("ca_chain") or [data["issuing_ca"]]
    leaf = x509.load_pem_x509_certificate(data["certificate"].encode())
    return SignedCertificate(
        certificate_pem=data["certificate"].strip().encode() + b"\n",
        chain_pem="".join(c.strip() + "\n" for c in chain).encode(),
        serial=vault_serial(leaf.serial_number), not_after=leaf.not_valid_after_utc)


def revoke(client: hvac.Client, mount: str, serial: str) -> None:
    """Revoke a certificate in Vault (it goes on the CRL); an expired one is fine to skip."""
    try:
        _vault(lambda: client.secrets.pki.revoke_certificate(serial, mount_point=mount))
    except PkiRefusedError as err:
        if "expired" not in str(err):
            raise


_T = TypeVar("_T")


def _vault(call: Callable[[], _T]) -> _T:
    """One hvac call: unreachable or sealed -> PkiUnavailableError, refused -> PkiRefusedError."""
    try:
        return call()
    except (requests.ConnectionError, requests.Timeout, hvac.exceptions.VaultDown,
            hvac.exceptions.InternalServerError, hvac.exceptions.BadGateway) as err:
        raise PkiUnavailableError(f"Vault is unavailable: {type(err).__name__}") from err
    except hvac.exceptions.VaultError as err:
        raise PkiRefusedError(f"Vault refused: {err}") from err
