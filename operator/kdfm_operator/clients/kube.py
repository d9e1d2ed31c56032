"""A small asynchronous Kubernetes REST client (aiohttp): the operator's only API I/O besides kopf.

kopf watches and patches the custom resources; this client reads and writes the other objects
(Secrets, ConfigMaps, Deployments ...) with the same credentials kopf logged in with. It speaks
plain REST with JSON merge patches, so it runs unchanged against a real API server and kmock.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp

from kdfm_operator.errors import KubeApiError

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


@dataclass(frozen=True)
class Connection:
    """Where the API server is and how to authenticate (what kopf's login produced)."""

    server: str
    token: str | None = None
    ca_path: str | None = None
    insecure: bool = False


class KubeClient:
    """Namespaced object access; use as ``async with KubeClient(conn) as kube:``."""

    def __init__(self, connection: Connection, *, timeout_s: float = 30.0) -> None:
        self._conn = connection
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> KubeClient:
        headers = {"Accept": "application/json"}
        if self._conn.token:
            headers["Authorization"] = f"Bearer {self._conn.token}"
        ssl_arg: ssl.SSLContext | bool = True
        if self._conn.insecure:
            ssl_arg = False
        elif self._conn.ca_path:
            ssl_arg = ssl.create_default_context(cafile=self._conn.ca_path)
        self._session = aiohttp.ClientSession(
            headers=headers,
            timeout=self._timeout,
            connector=aiohttp.TCPConnector(ssl=ssl_arg),
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

    async def list(self, api_version: str, kind: str, namespace: str) -> list[dict[str, Any]]:
        """Every object of a kind in a namespace."""
        url = self._url(api_version, kind, namespace)
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

    async def apply(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Create the object, or merge-patch it to the wanted state when it exists."""
        meta = obj["metadata"]
        api_version, kind = obj["apiVersion"], obj["kind"]
        existing = await self.get(api_version, kind, meta["namespace"], meta["name"])
        if existing is None:
            url = self._url(api_version, kind, meta["namespace"])
            status, payload = await self._request("POST", url, body=dict(obj))
            if status != 409:
                result: dict[str, Any] = self._check("POST", url, status, payload)
                return result
            # Created concurrently since our GET: fall through to a patch.
        return await self.patch(api_version, kind, meta["namespace"], meta["name"], obj)

    async def delete(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        """Delete an object; False when it was already gone."""
        url = self._url(api_version, kind, namespace, name)
        status, payload = await self._request("DELETE", url)
        if status == 404:
            return False
        self._check("DELETE", url, status, payload)
        return True
