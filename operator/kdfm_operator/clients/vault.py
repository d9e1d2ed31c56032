"""Vault (OpenBao) through hvac: PKI issue/revoke, roles and policies. The only Vault I/O.

hvac is synchronous; handlers call these methods through ``asyncio.to_thread`` so that a slow
Vault never blocks kopf's event loop. Every hvac and transport error is translated here into
VaultUnavailableError (retry) or VaultRefusedError (do not retry the same request).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal, TypeVar, overload

import hvac
import hvac.exceptions
import requests

from kdfm_operator.errors import VaultRefusedError, VaultUnavailableError
from kdfm_operator.pem import CertificateInfo, certificate_info, crl_serials
from kdfm_operator.reconcile.certificate import CertificateSpec, IssuerLimits
from kdfm_operator.reconcile.durations import parse_duration

T = TypeVar("T")


@dataclass(frozen=True)
class IssuedBundle:
    """A freshly issued certificate with its key and CA chain, all PEM."""

    certificate: str
    private_key: str
    ca_chain: str
    info: CertificateInfo


def _ttl(value: object) -> timedelta | None:
    """A TTL as Vault returns it (seconds, or a duration string); 0 or empty means unset."""
    if value in (None, "", 0, "0", "0s"):
        return None
    if isinstance(value, int | float):
        return timedelta(seconds=float(value))
    return parse_duration(str(value))


class VaultClient:
    """One Vault address and token; methods are blocking and raise the operator's Vault errors."""

    def __init__(
        self, address: str, token: str, *, timeout_s: float, verify: bool | str = True
    ) -> None:
        self.address = address
        self._client = hvac.Client(url=address, token=token, timeout=timeout_s, verify=verify)

    @overload
    def _call(self, what: str, fn: Callable[[], T]) -> T: ...

    @overload
    def _call(
        self, what: str, fn: Callable[[], T], *, absent_is_none: Literal[True]
    ) -> T | None: ...

    def _call(self, what: str, fn: Callable[[], T], *, absent_is_none: bool = False) -> T | None:
        """fn() with hvac's errors translated; ``absent_is_none``: a missing path gives None."""
        try:
            return fn()
        except hvac.exceptions.VaultDown as err:
            raise VaultUnavailableError(f"Vault at {self.address} is sealed ({what})") from err
        except (
            hvac.exceptions.InternalServerError,
            hvac.exceptions.BadGateway,
            hvac.exceptions.RateLimitExceeded,
            hvac.exceptions.VaultNotInitialized,
        ) as err:
            raise VaultUnavailableError(f"Vault at {self.address} failed to {what}: {err}") from err
        except (requests.ConnectionError, requests.Timeout) as err:
            raise VaultUnavailableError(
                f"Vault at {self.address} is unreachable ({what}): {type(err).__name__}"
            ) from err
        except hvac.exceptions.VaultError as err:
            if absent_is_none and isinstance(err, hvac.exceptions.InvalidPath):
                return None
            raise VaultRefusedError(f"Vault at {self.address} refused to {what}: {err}") from err

    def issuer_limits(self, mount: str, role: str) -> IssuerLimits:
        """The role's max TTL and the issuing CA's expiry, for capping lifetimes."""
        role_data = self._call(
            f"read role {mount}/{role}",
            lambda: self._client.secrets.pki.read_role(name=role, mount_point=mount),
        )
        ca_pem = self._call(
            f"read the CA of {mount}",
            lambda: self._client.secrets.pki.read_ca_certificate(mount_point=mount),
        )
        ca_not_after = certificate_info(ca_pem).not_after if ca_pem.strip() else None
        return IssuerLimits(
            ca_not_after=ca_not_after, role_max_ttl=_ttl(role_data["data"].get("max_ttl"))
        )

    def issue(self, spec: CertificateSpec, ttl: timedelta) -> IssuedBundle:
        """Issue a certificate for the spec with the given (already capped) lifetime."""
        params: dict[str, Any] = {"ttl": f"{int(ttl.total_seconds())}s", "format": "pem"}
        if spec.dns_names:
            params["alt_names"] = ",".join(spec.dns_names)
        if spec.ip_addresses:
            params["ip_sans"] = ",".join(spec.ip_addresses)
        if spec.uri_sans:
            params["uri_sans"] = ",".join(spec.uri_sans)
        issuer = spec.issuer
        response = self._call(
            f"issue {spec.common_name} from {issuer.pki_mount}/{issuer.role}",
            lambda: self._client.secrets.pki.generate_certificate(
                name=issuer.role,
                common_name=spec.common_name,
                extra_params=params,
                mount_point=issuer.pki_mount,
            ),
        )
        data = response["data"]
        chain = data.get("ca_chain") or [data["issuing_ca"]]
        return IssuedBundle(
            certificate=data["certificate"],
            private_key=data["private_key"],
            ca_chain="\n".join(c.strip() for c in chain) + "\n",
            info=certificate_info(data["certificate"]),
        )

    def revoke(self, mount: str, serial: str) -> None:
        """Revoke a certificate; revoking an already expired or unknown one is not an error."""
        try:
            self._call(
                f"revoke {serial} on {mount}",
                lambda: self._client.secrets.pki.revoke_certificate(
                    serial_number=serial, mount_point=mount
                ),
            )
        except VaultRefusedError as err:
            # Vault refuses to revoke a certificate it no longer knows (expired and tidied):
            # the goal - the certificate is not trusted - holds already.
            if "not found" in str(err).lower() or "expired" in str(err).lower():
                return
            raise

    def revoked_serials(self, mount: str) -> set[str]:
        """Serials on the mount's current CRL."""
        pem = self._call(
            f"read the CRL of {mount}",
            lambda: self._client.secrets.pki.read_crl(mount_point=mount),
        )
        return crl_serials(pem)

    def ensure_role(self, mount: str, name: str, params: Mapping[str, Any]) -> None:
        """Create or update a PKI role."""
        self._call(
            f"write role {mount}/{name}",
            lambda: self._client.secrets.pki.create_or_update_role(
                name=name, extra_params=dict(params), mount_point=mount
            ),
        )

    def read_role(self, mount: str, name: str) -> Mapping[str, Any] | None:
        """A PKI role's settings, or None when it does not exist."""
        data = self._call(
            f"read role {mount}/{name}",
            lambda: self._client.secrets.pki.read_role(name=name, mount_point=mount),
            absent_is_none=True,
        )
        if data is None:
            return None
        result: Mapping[str, Any] = data["data"]
        return result

    def delete_role(self, mount: str, name: str) -> None:
        """Delete a PKI role; an absent role is fine."""
        self._call(
            f"delete role {mount}/{name}",
            lambda: self._client.secrets.pki.delete_role(name=name, mount_point=mount),
        )

    def ensure_policy(self, name: str, hcl: str) -> None:
        """Create or update an ACL policy."""
        self._call(
            f"write policy {name}",
            lambda: self._client.sys.create_or_update_policy(name=name, policy=hcl),
        )

    def read_policy(self, name: str) -> str | None:
        """A policy's HCL, or None when absent."""
        response = self._call(
            f"read policy {name}",
            lambda: self._client.sys.read_policy(name=name),
            absent_is_none=True,
        )
        if response is None:
            return None
        rules: str = response["data"]["rules"]
        return rules

    def delete_policy(self, name: str) -> None:
        """Delete an ACL policy; an absent policy is fine."""
        self._call(f"delete policy {name}", lambda: self._client.sys.delete_policy(name=name))
