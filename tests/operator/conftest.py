"""Running the operator under kopf against kmock's Kubernetes emulator, in the test's event loop.

kmock 0.8 assigns no resourceVersion/uid/generation and does not bump them; kopf needs them.
StampingEmulator adds them: resourceVersion on every write, generation +1 when the spec changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import itertools
import ssl
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import aiohttp.test_utils
import kmock
import kopf
import pytest
from kdfm_operator import conditions as cond
from kdfm_operator.clients.kube import Connection, KubeClient
from kdfm_operator.context import OperatorContext
from kdfm_operator.crds import load_crds
from kdfm_operator.handlers.registry import build_registry
from kdfm_operator.settings import OperatorSettings
from kmock._internal import enums, rendering

API = "fleet.kdfm.io/v1alpha1"


class StampingEmulator(kmock.KubernetesEmulator):  # type: ignore[misc]
    """kmock's emulator plus the metadata bookkeeping a real API server does."""

    _versions = itertools.count(1)

    async def _handle(self, request: rendering.Request) -> Any:
        data = request.data if isinstance(request.data, dict) else None
        if request.resource is not None and data is not None:
            meta = data.setdefault("metadata", {})
            if request.action == enums.action.CREATE:
                meta["resourceVersion"] = str(next(self._versions))
                meta.setdefault("uid", str(uuid.uuid4()))
                meta["generation"] = 1
                meta.setdefault(
                    "creationTimestamp",
                    datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                )
            elif request.action == enums.action.UPDATE and request.name is not None:
                meta["resourceVersion"] = str(next(self._versions))
                key = (request.resource, request.namespace, request.name)
                if "spec" in data and request.subresource is None and key in self.objects:
                    current = self.objects[key]
                    if not current.deleted:
                        old = current.get("metadata", {}).get("generation", 1)
                        meta["generation"] = int(old) + 1
        if (
            request.resource is not None
            and request.action == enums.action.DELETE
            and request.name is not None
        ):
            key = (request.resource, request.namespace, request.name)
            if key in self.objects and not self.objects[key].deleted:
                version = str(next(self._versions))
                self.objects[key].patch({"metadata": {"resourceVersion": version}})
        return await super()._handle(request)


async def wait_for(what: str, probe: Callable[[], Awaitable[Any]], limit_s: float = 90.0) -> Any:
    """Poll until probe() returns something truthy and return it; fail naming what was awaited."""
    deadline = asyncio.get_running_loop().time() + limit_s
    last: Any = None
    while asyncio.get_running_loop().time() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {limit_s}s waiting for {what}; last: {last!r}")


@dataclass
class Cluster:
    """A running emulator + operator; helpers to read and write objects and to wait."""

    kube: KubeClient
    ctx: OperatorContext
    emulator: Any

    async def wait_for(
        self,
        what: str,
        probe: Callable[[], Awaitable[Any]],
        limit_s: float = 90.0,
    ) -> Any:
        """Poll until probe() returns something truthy; fail naming what was awaited."""
        return await wait_for(what, probe, limit_s)

    async def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        api = "v1" if kind in ("Secret", "ConfigMap", "Service") else API
        if kind == "Deployment":
            api = "apps/v1"
        if kind == "PodDisruptionBudget":
            api = "policy/v1"
        return await self.kube.get(api, kind, namespace, name)

    async def gone(self, kind: str, namespace: str, name: str) -> bool:
        """Whether the object no longer exists (a finalizer released it)."""
        return await self.get(kind, namespace, name) is None

    async def condition(
        self, kind: str, namespace: str, name: str, type_: str = "Ready"
    ) -> dict[str, Any] | None:
        obj = await self.get(kind, namespace, name)
        found = cond.find(((obj or {}).get("status") or {}).get("conditions"), type_)
        return dict(found) if found is not None else None

    async def condition_with(
        self,
        kind: str,
        namespace: str,
        name: str,
        *,
        type_: str = "Ready",
        status: str | None = None,
        reason: str | None = None,
        generation: int | None = None,
    ) -> dict[str, Any] | None:
        """The condition when it has each given status, reason and observedGeneration; else None."""
        c = await self.condition(kind, namespace, name, type_)
        if c is None:
            return None
        for key, wanted in (
            ("status", status),
            ("reason", reason),
            ("observedGeneration", generation),
        ):
            if wanted is not None and c.get(key) != wanted:
                return None
        return c


@contextlib.asynccontextmanager
async def running_operator(settings: OperatorSettings, **ctx_kwargs: Any) -> AsyncIterator[Cluster]:
    """kmock + kopf with our registry; both stopped on exit, whatever happens."""
    async with emulated_api(settings) as (emulator, url):
        connection = Connection(server=url, insecure=True)
        ctx = OperatorContext(settings=settings, connection=connection, **ctx_kwargs)
        stop = asyncio.Event()
        ready = asyncio.Event()
        task = asyncio.create_task(
            kopf.operator(
                registry=build_registry(ctx),
                clusterwide=True,
                standalone=True,
                stop_flag=stop,
                ready_flag=ready,
            )
        )
        try:
            await asyncio.wait_for(ready.wait(), timeout=60)
            async with KubeClient(connection) as kube:
                yield Cluster(kube=kube, ctx=ctx, emulator=emulator)
        finally:
            stop.set()
            try:
                await asyncio.wait_for(task, timeout=30)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task


def fast_settings(**over: Any) -> OperatorSettings:
    """Settings with short intervals so that timers and retries act within a test."""
    base = OperatorSettings(
        retry_delay_s=1.0,
        backoff_base_s=1.0,
        backoff_max_s=4.0,
        renewal_check_s=1.0,
        resync_interval_s=1.0,
        vault_timeout_s=5.0,
    )
    return replace(base, **over)


class Clock:
    """A clock the test can move forward; the operator's plans read it."""

    def __init__(self) -> None:
        self.offset = datetime.timedelta(0)

    def __call__(self) -> datetime.datetime:
        return datetime.datetime.now(datetime.UTC) + self.offset


# The factories below are also handed out as fixtures, so a test asks for what it uses in its
# signature; plain helpers (wait_for) are imported: ``from .conftest import wait_for``.


@pytest.fixture
def operator_cluster() -> Callable[..., contextlib.AbstractAsyncContextManager[Cluster]]:
    """running_operator(settings, **context_fields): kmock + kopf with the KDFM handlers."""
    return running_operator


@pytest.fixture
def quick_settings() -> Callable[..., OperatorSettings]:
    """fast_settings(**overrides): settings with 1-second timers and retries."""
    return fast_settings


@pytest.fixture
def clock() -> Clock:
    """A clock the test can move forward (clock.offset)."""
    return Clock()


# --- The emulator behind TLS that demands a client certificate (tests/operator/test_login_*.py).
# kmock serves through aiohttp's test server, whose start_server takes an ssl context; the TLS
# is terminated by that real asyncio/OpenSSL server, no forwarding front is needed.


def https_server_class(context: ssl.SSLContext) -> type[aiohttp.test_utils.RawTestServer]:
    """aiohttp's raw test server (kmock's transport) listening with TLS ``context``."""

    class HttpsTestServer(aiohttp.test_utils.RawTestServer):
        async def start_server(
            self, loop: asyncio.AbstractEventLoop | None = None, **kwargs: Any
        ) -> None:
            kwargs["ssl"] = context
            await super().start_server(loop, **kwargs)

    return HttpsTestServer


@contextlib.asynccontextmanager
async def emulated_api(
    settings: OperatorSettings, *, server_ssl: ssl.SSLContext | None = None
) -> AsyncIterator[tuple[Any, str]]:
    """The stamping emulator with the KDFM CRDs; yields (emulator, base URL), https with TLS."""
    server_kwargs: dict[str, Any] = {}
    if server_ssl is not None:
        server_kwargs["server_cls"] = https_server_class(server_ssl)
    async with StampingEmulator() as emulator, kmock.Server(emulator, **server_kwargs) as server:
        register_resources(emulator, settings)
        yield emulator, str(server.url).rstrip("/")


def register_resources(emulator: Any, settings: OperatorSettings) -> None:
    """Kubernetes' own kinds and the KDFM CRDs, namespaced with a status subresource."""
    emulator.resources.load_bundled()
    for crd in load_crds(settings.crd_dir).values():
        emulator.resources[kmock.resource(crd.group, crd.version, crd.plural)] = (
            kmock.ResourceInfo(
                kind=crd.kind,
                singular=crd.kind.lower(),
                namespaced=True,
                subresources={"status"},
                verbs={"get", "list", "watch", "create", "update", "patch", "delete"},
            )
        )


@contextlib.asynccontextmanager
async def kopf_running(ctx: OperatorContext) -> AsyncIterator[asyncio.Task[None]]:
    """kopf with the KDFM registry bound to ``ctx``, not yet awaited; stopped on exit."""
    stop = asyncio.Event()
    task = asyncio.create_task(
        kopf.operator(
            registry=build_registry(ctx), clusterwide=True, standalone=True, stop_flag=stop
        )
    )
    try:
        yield task
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, timeout=30)
        except (Exception, asyncio.CancelledError):
            # A failed operator is the test's to judge (it awaited the task); just make sure.
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


@pytest.fixture
def api_emulator() -> Callable[..., contextlib.AbstractAsyncContextManager[tuple[Any, str]]]:
    """emulated_api(settings, server_ssl=None): kmock's emulator with the CRDs, maybe over TLS."""
    return emulated_api


@pytest.fixture
def kopf_runner() -> Callable[..., contextlib.AbstractAsyncContextManager[asyncio.Task[None]]]:
    """kopf_running(ctx): kopf with the KDFM handlers as a task of the test's event loop."""
    return kopf_running
