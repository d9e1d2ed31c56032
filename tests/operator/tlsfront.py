"""PKI and kubeconfigs for the login tests: the emulator's TLS front demands a client certificate.

The TLS front is aiohttp's own asyncio/OpenSSL server (kmock's transport, given an ssl context
by ``https_server_class`` in conftest.py); this module makes what it and its clients need.
"""

from __future__ import annotations

import base64
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kdfm_cloud.pki import CertificateAuthority, CertifiedKey
from kdfm_cloud.store import AgentKey
from kdfm_operator.clients.kube import Connection


def _b64(pem: bytes) -> str:
    return base64.b64encode(pem).decode("ascii")


@dataclass
class ApiPki:
    """A CA, the API server's certificate and an admin's client certificate, written to files."""

    directory: Path
    ca: CertificateAuthority = field(default_factory=CertificateAuthority.create)

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.ca_file = self.directory / "ca.crt"
        self.ca_file.write_bytes(self.ca.cert_pem)
        self.server_cert, self.server_key = self.ca.issue_server().write(self.directory, "api")
        # Any certificate with clientAuth from this CA will do; kube-apiserver would read the
        # user from CN and the groups from O.
        self.admin = self.ca.issue_agent(AgentKey("ops", "kube-admin"))
        self.admin_cert, self.admin_key = self.admin.write(self.directory, "admin")

    def server_context(self) -> ssl.SSLContext:
        """The API server's side: its certificate, and a client certificate from our CA required."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(self.ca_file))
        context.load_cert_chain(self.server_cert, self.server_key)
        context.verify_mode = ssl.CERT_REQUIRED
        return context

    def connection(self, server: str, form: str, **extra: Any) -> Connection:
        """A client connection with the admin's certificate as files ("paths") or PEM ("inline")."""
        if form == "paths":
            return Connection(
                server=server,
                ca_path=str(self.ca_file),
                certificate_path=str(self.admin_cert),
                private_key_path=str(self.admin_key),
                **extra,
            )
        if form == "inline":
            return Connection(
                server=server,
                ca_data=self.ca.cert_pem.decode(),
                certificate_data=self.admin.cert_pem.decode(),
                private_key_data=self.admin.key_pem.decode(),
                **extra,
            )
        raise ValueError(f"unknown connection form {form!r}")

    def kubeconfig(
        self,
        server: str,
        form: str,
        *,
        name: str = "kubeconfig",
        user: dict[str, Any] | None = None,
    ) -> Path:
        """Write a kubeconfig: "paths" (file names), "inline" (base64 -data) or "no-cert".

        ``user`` replaces the user entry entirely (for broken ones).
        """
        cluster: dict[str, Any] = {"server": server}
        if form == "paths":
            cluster["certificate-authority"] = str(self.ca_file)
            default_user = {
                "client-certificate": str(self.admin_cert),
                "client-key": str(self.admin_key),
            }
        elif form == "inline":
            cluster["certificate-authority-data"] = _b64(self.ca.cert_pem)
            default_user = {
                "client-certificate-data": _b64(self.admin.cert_pem),
                "client-key-data": _b64(self.admin.key_pem),
            }
        elif form == "no-cert":
            cluster["certificate-authority-data"] = _b64(self.ca.cert_pem)
            default_user = {}
        else:
            raise ValueError(f"unknown kubeconfig form {form!r}")
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "kdfm-test",
            "clusters": [{"name": "emulator", "cluster": cluster}],
            "users": [{"name": "admin", "user": default_user if user is None else user}],
            "contexts": [
                {"name": "kdfm-test", "context": {"cluster": "emulator", "user": "admin"}}
            ],
        }
        path = self.directory / name
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        return path


def stranger(directory: Path) -> tuple[CertificateAuthority, CertifiedKey]:
    """Another CA and a client certificate from it: neither is trusted by ApiPki."""
    ca = CertificateAuthority.create("KDFM stranger CA")
    return ca, ca.issue_agent(AgentKey("ops", "intruder"))
