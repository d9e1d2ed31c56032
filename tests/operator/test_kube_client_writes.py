"""KubeClient's two ways of writing an object, against kmock's emulator: create and apply."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from kdfm_operator.clients.kube import Connection, KubeClient
from kdfm_operator.context import OperatorContext
from kdfm_operator.settings import OperatorSettings

from .conftest import emulated_api


@contextlib.asynccontextmanager
async def _kube() -> AsyncIterator[KubeClient]:
    async with contextlib.AsyncExitStack() as stack:
        _, url = await stack.enter_async_context(emulated_api(OperatorSettings()))
        yield await stack.enter_async_context(KubeClient(Connection(server=url)))


def _secret(**data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "credential", "namespace": "fleet"},
        "data": data,
    }


def test_create_never_replaces_what_is_there() -> None:
    async def scenario() -> None:
        async with _kube() as kube:
            assert await kube.create(_secret(password="Zmlyc3Q=")) is True
            assert await kube.create(_secret(password="c2Vjb25k")) is False
            kept = await kube.get("v1", "Secret", "fleet", "credential")
            assert kept is not None and kept["data"] == {"password": "Zmlyc3Q="}

    asyncio.run(scenario())


def test_apply_creates_then_merges() -> None:
    async def scenario() -> None:
        async with _kube() as kube:
            created = await kube.apply(_secret(a="YQ=="))
            assert created["data"] == {"a": "YQ=="}
            patched = await kube.apply(_secret(b="Yg=="))
            assert patched["data"] == {"a": "YQ==", "b": "Yg=="}
            stored = await kube.get("v1", "Secret", "fleet", "credential")
            assert stored is not None and stored["data"] == {"a": "YQ==", "b": "Yg=="}

    asyncio.run(scenario())


def test_one_ca_file_per_distinct_bundle() -> None:
    ctx = OperatorContext()
    first, second = "-----BEGIN CERTIFICATE-----\nAAAA\n", "-----BEGIN CERTIFICATE-----\nBBBB\n"
    for pem in (first, second, first, second, first):
        ctx.vault("https://127.0.0.1:8200", "token", pem)
    assert sorted(ctx.ca_files) == [first, second]
    for pem, path in ctx.ca_files.items():
        with open(path, encoding="utf-8") as handle:
            assert handle.read() == pem
