"""A small asynchronous Kubernetes REST client (aiohttp): the operator's only API I/O besides kopf.

kopf watches and patches the custom resources; this client reads and writes the other objects
(Secrets, ConfigMaps, Deployments ...) with the same credentials kopf logged in with. It speaks
plain REST with JSON merge patches, so it runs unchanged against a real API server and kmock.
"""

from __future__ import annotations

import base64
import binascii
import errno
import json
import os
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

import aiohttp

from kdfm_operator.errors import KubeApiError, KubeCredentialsError

# Kind -> plural for every kind the operator writes; a new kind must be added here on purpose.
PLURALS = {
    "Secret": "secrets",
    "ConfigMap": "configmaps",
    "Service": "services",
    "Deployment": "deployments",
    "PodDisruptionBudget": "poddisruptionbudgets",
    "Tenant": "tenants",
    "VaultCertificate": "vaultcertificates",
    "Broker": "brokers",
}



def pem_text(value: str | bytes | None, field: str) -> str | None:
    """PEM text from a kubeconfig ``*-data`` field: base64-encoded PEM, or PEM as it is."""
    if value is None or value in ("", b""):
        return None
    raw = value.encode("ascii", "replace") if isinstance(value, str) else value
    if raw.lstrip().startswith(b"-----BEGIN "):
        return raw.decode("ascii", "replace")
    try:
        text = base64.b64decode(raw, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError) as err:
        raise KubeCredentialsError(f"{field} is neither PEM nor base64-encoded PEM") from err
    if "-----BEGIN " not in text:
        raise KubeCredentialsError(f"{field} decodes from base64 but holds no PEM block")
    return text


def _check_readable(path: str, field: str) -> None:
    try:
        with open(path, "rb"):
            pass
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise KubeCredentialsError(f"{field} file {path} cannot be read: {reason}") from err


@dataclass(frozen=True)
class Connection:
    """Where the API server is and how to authenticate (everything kopf's login produced).

    The ``*_data`` fields hold PEM text (kubeconfig's base64 already decoded, see ``pem_text``);
    a path and the data of the same item are mutually exclusive, as in a kubeconfig.
    """

    server: str
    """The API server's base URL, e.g. ``https://10.0.0.1:6443``."""
    token: str | None = None
    """A bearer token (service account, kubeconfig ``token``), sent as ``Authorization``."""
    scheme: str | None = None
    """The ``Authorization`` scheme for the token when it is not ``Bearer``."""
    username: str | None = None
    """Basic-auth user name (kubeconfig ``username``); used only together with ``password``."""
    password: str | None = None
    """Basic-auth password (kubeconfig ``password``)."""
    ca_path: str | None = None
    """A PEM file of the CAs that sign the API server's certificate (``certificate-authority``)."""
    ca_data: str | None = None
    """The same CAs as PEM text (``certificate-authority-data``)."""
    certificate_path: str | None = None
    """The client certificate chain as a PEM file (``client-certificate``)."""
    certificate_data: str | None = None
    """The client certificate chain as PEM text (``client-certificate-data``)."""
    private_key_path: str | None = None
    """The client certificate's private key as a PEM file (``client-key``)."""
    private_key_data: str | None = None
    """The client certificate's private key as PEM text (``client-key-data``)."""
    insecure: bool = False
    """Skip verifying the API server's certificate (``insecure-skip-tls-verify``)."""

    def __post_init__(self) -> None:
        for what, path, data in (
            ("certificate-authority", self.ca_path, self.ca_data),
            ("client-certificate", self.certificate_path, self.certificate_data),
            ("client-key", self.private_key_path, self.private_key_data),
        ):
            if path and data:
                raise KubeCredentialsError(f"both {what} and {what}-data are set; give one")

    @property
    def has_client_certificate(self) -> bool:
        """Whether a client certificate is configured (its key is checked by ssl_context)."""
        return bool(self.certificate_path or self.certificate_data)

    def headers(self) -> dict[str, str]:
        """The ``Authorization`` header, chosen as kubectl and kopf do."""
        if self.username and self.password:
            return {"Authorization": aiohttp.encode_basic_auth(self.username, self.password)}
        if self.token:
            return {"Authorization": f"{self.scheme or 'Bearer'} {self.token}"}
        return {}

    @cached_property
    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context: trusted CAs and the client certificate; built once per connection.

        Raises KubeCredentialsError naming the kubeconfig field and file that cannot be used.
        """
        if self.ca_path:
            _check_readable(self.ca_path, "certificate-authority")
        try:
            context = ssl.create_default_context(cafile=self.ca_path, cadata=self.ca_data)
        except ssl.SSLError as err:
            what = "certificate-authority" + ("" if self.ca_path else "-data")
            raise KubeCredentialsError(f"{what} holds no usable CA certificate: {err}") from err
        has_key = bool(self.private_key_path or self.private_key_data)
        if self.has_client_certificate != has_key:
            missing = "client-key" if self.has_client_certificate else "client-certificate"
            raise KubeCredentialsError(
                f"a client certificate needs both client-certificate and client-key; {missing}"
                " (or its -data) is missing"
            )
        if self.has_client_certificate:
            self._load_client_certificate(context)
        if self.insecure:
            # Verification off, but the client certificate above is still presented.
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _load_client_certificate(self, context: ssl.SSLContext) -> None:
        # ssl loads certificate chains only from files: inline PEM goes to 0600 files in a
        # private directory that is removed as soon as the context holds the key.
        with tempfile.TemporaryDirectory(prefix="kdfm-kube-") as scratch:
            if self.certificate_path:
                _check_readable(self.certificate_path, "client-certificate")
                cert_file, cert_label = self.certificate_path, self.certificate_path
            else:
                cert_file = _private_file(scratch, "client.crt", self.certificate_data or "")
                cert_label = "(client-certificate-data)"
            if self.private_key_path:
                _check_readable(self.private_key_path, "client-key")
                key_file, key_label = self.private_key_path, self.private_key_path
            else:
                key_file = _private_file(scratch, "client.key", self.private_key_data or "")
                key_label = "(client-key-data)"
            try:
                context.load_cert_chain(certfile=cert_file, keyfile=key_file)
            except ssl.SSLError as err:
                raise KubeCredentialsError(
                    f"client certificate {cert_label} and client key {key_label} do not load"
                    f" together: {err}"
                ) from err


def _dropped_after_hello(
    server: str, err: aiohttp.ServerDisconnectedError | aiohttp.ClientOSError
) -> bool:
    """Whether an https connection was closed or reset by the server around the TLS handshake.

    asyncio-based servers close without sending TLS 1.3's ``certificate_required`` alert, and
    a TLS 1.2 refusal arrives as a reset; both look like this rather than an ``SSLError``.
    """
    if not server.startswith("https://"):
        return False
    if isinstance(err, aiohttp.ServerDisconnectedError):
        return True
    cause: OSError = err.os_error if isinstance(err, aiohttp.ClientConnectorError) else err
    return isinstance(cause, ConnectionResetError) or cause.errno == errno.ECONNRESET


def _status_message(text: str) -> str:
    """The ``message`` of a Kubernetes Status body, or the start of whatever else came."""
    try:
        body = json.loads(text)
    except ValueError:
        return text[:200]
    return str(body.get("message")) if isinstance(body, dict) else text[:200]


def _private_file(directory: str, name: str, text: str) -> str:
    path = os.path.join(directory, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(text)
    return path


class KubeClient:
    """Namespaced object access; use as ``async with KubeClient(conn) as kube:``."""

    def __init__(self, connection: Connection, *, timeout_s: float = 30.0) -> None:
        self._conn = connection
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> KubeClient:
        headers = {"Accept": "application/json", **self._conn.headers()}
        self._session = aiohttp.ClientSession(
            headers=headers,
            timeout=self._timeout,
            connector=aiohttp.TCPConnector(ssl=self._conn.ssl_context),
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _url(self, api_version: str, kind: str, namespace: str, name: str | None = None) -> str:
        try:
            plural = PLURALS[kind]
        except KeyError as err:
            raise KubeApiError(f"the operator does not know the plural of kind {kind!r}") from err
        base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        url = f"{self._conn.server.rstrip('/')}{base}/namespaces/{namespace}/{plural}"
        return f"{url}/{name}" if name else url

    async def _request(
        self, method: str, url: str, *, body: Any = None, content_type: str | None = None
    ) -> tuple[int, Any]:
        if self._session is None:
            raise RuntimeError("KubeClient used outside 'async with'")
        headers = {"Content-Type": content_type} if content_type else {}
        try:
            async with self._session.request(method, url, json=body, headers=headers) as resp:
                payload = await resp.json(content_type=None) if resp.content_length != 0 else None
                return resp.status, payload
        except (aiohttp.ClientError, TimeoutError) as err:
            raise KubeApiError(f"{method} {url} failed: {type(err).__name__}: {err}") from err

    async def check_access(self) -> None:
        """One discovery request (``GET /api``) that proves TLS, client certificate and credentials.

        Raises KubeCredentialsError when retrying the same credentials cannot help (the server's
        certificate is not trusted, the handshake is refused and we present no client
        certificate, 401/403), KubeApiError when it may (unreachable, restarting, 5xx).
        """
        if self._session is None:
            raise RuntimeError("KubeClient used outside 'async with'")
        server = self._conn.server.rstrip("/")
        url = f"{server}/api"
        try:
            async with self._session.get(url) as resp:
                status = resp.status
                # Text, not JSON: a proxy's HTML error page must not break the diagnosis.
                payload = await resp.text()
        except aiohttp.ClientConnectorCertificateError as err:
            raise KubeCredentialsError(
                f"the API server {server} presented a certificate we do not trust"
                f" ({err.certificate_error}); certificate-authority or certificate-authority-data"
                " must hold the CA that signed it"
            ) from err
        except aiohttp.ClientSSLError as err:
            raise KubeCredentialsError(f"the TLS handshake with {server} failed: {err}") from err
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as err:
            if not _dropped_after_hello(server, err):
                raise KubeApiError(f"cannot reach the API server {server}: {err}") from err
            if not self._conn.has_client_certificate:
                # A server that closes every TLS connection of a client without a certificate
                # demands one; waiting will not change that.
                raise KubeCredentialsError(
                    f"the API server {server} refused the TLS handshake: the kubeconfig's user"
                    " presents no client certificate (client-certificate/client-key or their"
                    " -data), and the server requires one"
                ) from err
            raise KubeApiError(
                f"the API server {server} closed the connection during the TLS handshake: it may"
                " not accept our client certificate, or it is restarting"
            ) from err
        except aiohttp.ClientError as err:
            raise KubeApiError(f"GET {url} failed: {type(err).__name__}: {err}") from err
        except TimeoutError as err:
            raise KubeApiError(f"the API server {server} did not answer GET /api in time") from err
        if status in (401, 403):
            # Every authenticated user may read /api (system:discovery): 403 means the server
            # took us for nobody (system:anonymous), like 401 it will not pass by waiting.
            raise KubeCredentialsError(
                f"the API server {server} answered {status} to GET /api"
                f" ({_status_message(payload)}): it does not accept these credentials"
                " (token, password or client certificate)"
            )
        self._check("GET", url, status, payload)

    @staticmethod
    def _check(method: str, url: str, status: int, payload: Any) -> Any:
        if status >= 400:
            message = payload.get("message") if isinstance(payload, dict) else payload
            raise KubeApiError(f"{method} {url} answered {status}: {message}")
        return payload

    async def get(
        self, api_version: str, kind: str, namespace: str, name: str
    ) -> dict[str, Any] | None:
        """One object, or None when it does not exist."""
        url = self._url(api_version, kind, namespace, name)
        status, payload = await self._request("GET", url)
        if status == 404:
            return None
        result: dict[str, Any] = self._check("GET", url, status, payload)
        return result

    async def list(
        self, api_version: str, kind: str, namespace: str, *, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        """Every object of a kind in a namespace; only those ``label_selector`` matches if given."""
        url = self._url(api_version, kind, namespace)
        if label_selector:
            url = f"{url}?{urlencode({'labelSelector': label_selector})}"
        status, payload = await self._request("GET", url)
        if status == 404:
            return []
        items: list[dict[str, Any]] = self._check("GET", url, status, payload).get("items") or []
        return items

    async def patch(
        self,
        api_version: str,
        kind: str,
        namespace: str,
        name: str,
        patch: Mapping[str, Any],
        *,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """A JSON merge patch of one object (or of its subresource, e.g. status)."""
        url = self._url(api_version, kind, namespace, name)
        if subresource:
            url = f"{url}/{subresource}"
        status, payload = await self._request(
            "PATCH", url, body=dict(patch), content_type="application/merge-patch+json"
        )
        result: dict[str, Any] = self._check("PATCH", url, status, payload)
        return result

    async def create(self, obj: Mapping[str, Any]) -> bool:
        """Create the object unless it exists; False when it was there already (left as it is).

        For objects that must never be overwritten once written, such as a generated credential:
        a POST alone cannot race another writer into replacing what that writer stored.
        """
        url = self._url(obj["apiVersion"], obj["kind"], obj["metadata"]["namespace"])
        status, payload = await self._request("POST", url, body=dict(obj))
        if status == 409:
            return False
        self._check("POST", url, status, payload)
        return True

    async def apply(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Merge-patch the object to the wanted state, or create it when it does not exist."""
        api_version, kind = obj["apiVersion"], obj["kind"]
        namespace, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        # PATCH first: on every resync the object exists, so one request is the common case.
        url = self._url(api_version, kind, namespace, name)
        status, payload = await self._request(
            "PATCH", url, body=dict(obj), content_type="application/merge-patch+json"
        )
        if status != 404:
            patched: dict[str, Any] = self._check("PATCH", url, status, payload)
            return patched
        create_url = self._url(api_version, kind, namespace)
        status, payload = await self._request("POST", create_url, body=dict(obj))
        if status == 409:
            # Created concurrently since our PATCH: patch what is there now.
            return await self.patch(api_version, kind, namespace, name, obj)
        created: dict[str, Any] = self._check("POST", create_url, status, payload)
        return created

    async def delete(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        """Delete an object; False when it was already gone."""
        url = self._url(api_version, kind, namespace, name)
        status, payload = await self._request("DELETE", url)
        if status == 404:
            return False
        self._check("DELETE", url, status, payload)
        return True
