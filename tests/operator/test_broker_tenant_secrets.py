"""A broker's sync reads every bound tenant's credential with one labelled Secret list.

The emulator here honours ``labelSelector`` as an API server does (kmock 0.8 ignores it), so a
Secret without the labels is really missing from the list and the fallback GET is exercised.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any, cast

import kmock
import pytest
from kdfm_cloud.devstack.openbao import Vault
from kdfm_operator.clients.kube import Connection, KubeClient
from kdfm_operator.context import OperatorContext
from kdfm_operator.credentials import (
    TENANT_COMPONENT,
    TENANT_SECRET_LABELS,
    TENANT_SECRET_SELECTOR,
    credential_secret,
    read_field,
)
from kdfm_operator.errors import InvalidSpecError
from kdfm_operator.handlers import broker
from kdfm_operator.reconcile import broker as rb
from kdfm_operator.reconcile import tenant as rt
from kdfm_operator.settings import OperatorSettings
from kmock._internal import enums, rendering

from .conftest import StampingEmulator, register_resources, running_operator
from .resources import API, NS, broker_objects, tenant

SECRETS = kmock.resource("", "v1", "secrets")
OWNER = {"apiVersion": API, "kind": "Tenant", "name": "owner", "uid": "u-1"}


class SelectingEmulator(StampingEmulator):
    """The stamping emulator whose lists keep only what an equality ``labelSelector`` matches."""

    async def _serve_list(self, request: rendering.Request) -> Any:
        listed = cast(dict[str, Any], await super()._serve_list(request))  # kmock lists: dicts
        selector = request.params.get("labelSelector")
        if not selector:
            return listed
        wanted = dict(term.split("=", 1) for term in selector.split(","))
        items = [
            item
            for item in listed["items"]
            if wanted.items() <= ((item.get("metadata") or {}).get("labels") or {}).items()
        ]
        return {**listed, "items": items}


@contextlib.asynccontextmanager
async def selecting_api(settings: OperatorSettings) -> AsyncIterator[tuple[Any, KubeClient]]:
    async with SelectingEmulator() as emulator, kmock.Server(emulator) as server:
        register_resources(emulator, settings)
        async with KubeClient(Connection(server=str(server.url).rstrip("/"))) as kube:
            yield emulator, kube


def _tenant(name: str, *, signed: bool, broker_name: str = "main") -> dict[str, Any]:
    obj = tenant(name, signed=signed)
    obj["spec"]["brokerRef"] = {"name": broker_name}
    return obj


def _broker() -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "Broker",
        "metadata": {"name": "main", "namespace": NS},
        "spec": {"replicas": 1, "tlsCertificateRef": {"name": "main-cert"}},
    }


def _credential(tenant_name: str, *, labelled: bool) -> dict[str, Any]:
    """A tenant credential Secret as the tenant handler writes it now, or wrote it before."""
    secret, _ = credential_secret(
        broker.tenant_secret_name(tenant_name),
        NS,
        OWNER,
        tenant_name,
        component=TENANT_COMPONENT if labelled else None,
    )
    return secret


async def _reference_plan(kube: KubeClient, settings: OperatorSettings) -> rb.BrokerPlan:
    """The plan as the sync computed it before: one GET per bound tenant's Secret."""
    bound = []
    for name, signed in broker.bindings(await kube.list(API, "Tenant", NS), "main"):
        secret = await kube.get("v1", "Secret", NS, broker.tenant_secret_name(name))
        bound.append(rb.BoundTenant(name, signed, read_field(secret, "passwordHash")))
    cloud = await kube.get("v1", "Secret", NS, broker.cloud_secret_name("main"))
    cloud_hash = read_field(cloud, "passwordHash")
    assert cloud_hash
    return rb.plan_broker(
        "main",
        NS,
        rb.parse_spec(_broker()["spec"]),
        bound,
        cloud_username=settings.cloud_broker_username,
        cloud_password_hash=cloud_hash,
        tls_secret_name="main-cert-tls",
        certificate_ready=None,
    )


def _secret_requests(emulator: Any, since: int) -> list[tuple[str, str | None, Mapping[str, str]]]:
    """(action, name, query) of every Secret request the emulator received from ``since`` on."""
    return [
        (str(r.action.value), r.name, dict(r.params))
        for r in list(emulator)[since:]
        if r.resource is not None and r.resource == SECRETS
    ]


async def _sync_and_record(
    emulator: Any, kube: KubeClient, ctx: OperatorContext
) -> tuple[rb.BrokerPlan, list[tuple[str, str | None, Mapping[str, str]]]]:
    await broker.sync(ctx, kube, NS, "main")  # the first sync creates the cloud credential
    since = len(list(emulator))
    synced = await broker.sync(ctx, kube, NS, "main")
    assert synced.plan is not None
    return synced.plan, _secret_requests(emulator, since)


def test_several_tenants_one_secret_list_same_plan() -> None:
    settings = OperatorSettings()

    async def scenario() -> None:
        async with selecting_api(settings) as (emulator, kube):
            ctx = OperatorContext(settings=settings)
            await kube.apply(_broker())
            for name in ("acme", "globex", "initech", "umbrella"):
                await kube.apply(_tenant(name, signed=True))
                await kube.create(_credential(name, labelled=True))
            await kube.apply(_tenant("hooli", signed=False))
            await kube.apply(_tenant("stark", signed=True, broker_name="other"))
            await kube.create(_credential("stark", labelled=True))

            plan, requests = await _sync_and_record(emulator, kube, ctx)

            assert plan == await _reference_plan(kube, settings)
            assert plan.tenants == ("acme", "globex", "initech", "umbrella")
            for name in plan.tenants:
                assert f"\nuser {name}\ntopic readwrite kdfm/v1/{name}/#" in f"\n{plan.acl}"
            assert "stark" not in plan.password_file and "hooli" not in plan.password_file
            # Reading the tenants' credentials: one list, no GET of any tenant's Secret.
            reads = [(a, n, q) for a, n, q in requests if a in ("LIST", "FETCH")]
            assert reads == [
                ("LIST", None, {"labelSelector": TENANT_SECRET_SELECTOR}),
                ("FETCH", broker.cloud_secret_name("main"), {}),
            ]

    asyncio.run(scenario())


def test_unlabelled_secret_of_earlier_versions_is_read_by_name() -> None:
    settings = OperatorSettings()

    async def scenario() -> None:
        async with selecting_api(settings) as (emulator, kube):
            ctx = OperatorContext(settings=settings)
            await kube.apply(_broker())
            await kube.apply(_tenant("acme", signed=True))
            await kube.create(_credential("acme", labelled=True))
            await kube.apply(_tenant("legacy", signed=True))
            await kube.create(_credential("legacy", labelled=False))
            written = await kube.get("v1", "Secret", NS, broker.tenant_secret_name("legacy"))
            # Unsigned with an old Secret the tenant handler has not removed yet: never a user.
            await kube.apply(_tenant("pending", signed=False))
            await kube.create(_credential("pending", labelled=False))

            plan, requests = await _sync_and_record(emulator, kube, ctx)

            legacy = await kube.get("v1", "Secret", NS, broker.tenant_secret_name("legacy"))
            legacy_hash = read_field(legacy, "passwordHash")
            assert legacy_hash and f"legacy:{legacy_hash}\n" in plan.password_file
            assert plan.tenants == ("acme", "legacy")
            assert plan == await _reference_plan(kube, settings)
            reads = [(a, n) for a, n, _ in requests if a in ("LIST", "FETCH")]
            assert reads == [
                ("LIST", None),
                ("FETCH", broker.tenant_secret_name("legacy")),
                ("FETCH", broker.cloud_secret_name("main")),
            ]
            # Nothing rewrote the old Secret: its password is the one it was created with.
            assert legacy is not None and written is not None
            assert legacy["data"] == written["data"]
            assert legacy["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "kdfm-operator"}

    asyncio.run(scenario())


def test_no_bound_tenant_lists_no_secret() -> None:
    settings = OperatorSettings()

    async def scenario() -> None:
        async with selecting_api(settings) as (emulator, kube):
            await kube.apply(_broker())
            await kube.apply(_tenant("stark", signed=True, broker_name="other"))
            plan, requests = await _sync_and_record(emulator, kube, OperatorContext(settings))
            assert plan.tenants == ()
            assert [a for a, _, _ in requests if a == "LIST"] == []

    asyncio.run(scenario())


def test_list_sends_the_label_selector_encoded() -> None:
    async def scenario() -> None:
        async with selecting_api(OperatorSettings()) as (emulator, kube):
            await kube.create(_credential("acme", labelled=True))
            await kube.create(_credential("legacy", labelled=False))
            since = len(list(emulator))
            selected = await kube.list("v1", "Secret", NS, label_selector=TENANT_SECRET_SELECTOR)
            everything = await kube.list("v1", "Secret", NS)
            assert [s["metadata"]["name"] for s in selected] == ["acme-broker-credentials"]
            assert len(everything) == 2
            sent = list(emulator)[since:]
            assert sent[0].params == {"labelSelector": TENANT_SECRET_SELECTOR}
            assert sent[1].params == {}
            assert sent[0].action == enums.action.LIST

    asyncio.run(scenario())


# --- Pure functions.


def test_tenant_credential_carries_the_selected_labels() -> None:
    tenant_secret = _credential("acme", labelled=True)
    labels = tenant_secret["metadata"]["labels"]
    assert labels == TENANT_SECRET_LABELS
    terms = dict(term.split("=", 1) for term in TENANT_SECRET_SELECTOR.split(","))
    assert terms == labels
    assert tenant_secret["metadata"]["name"] == "acme-broker-credentials"
    # The cloud's credential is no tenant's: the selector must not find it.
    cloud, _ = credential_secret("main-mosquitto-cloud", NS, OWNER, "kdfm-cloud")
    assert cloud["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "kdfm-operator"}


def test_bindings_keep_tenants_of_this_broker_that_stay_and_parse() -> None:
    leaving = _tenant("leaving", signed=True)
    leaving["metadata"]["deletionTimestamp"] = "2026-03-02T09:15:00Z"
    broken = _tenant("broken", signed=True)
    del broken["spec"]["displayName"]
    tenants = [
        _tenant("acme", signed=True),
        _tenant("hooli", signed=False),
        _tenant("stark", signed=True, broker_name="other"),
        leaving,
        broken,
    ]
    with pytest.raises(InvalidSpecError):
        rt.parse_spec(broken["spec"])
    assert broker.bindings(tenants, "main") == [("acme", True), ("hooli", False)]
    assert broker.bindings(tenants, "other") == [("stark", True)]


# --- The tenant handler under kopf writes the labelled Secret, and the broker picks it up.


@pytest.mark.vault
@pytest.mark.e2e
def test_tenant_handler_labels_its_credential(vault: Vault, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(vault.token)
    settings = OperatorSettings(
        retry_delay_s=1.0,
        resync_interval_s=1.0,
        vault_address=vault.addr,
        vault_token_file=token_file,
        vault_pki_mount=vault.int_mount,
    )

    async def scenario() -> None:
        async with running_operator(settings) as k:
            for obj in broker_objects(vault):
                await k.kube.apply(obj)
            await k.kube.apply(tenant("acme", signed=True))
            secret = await k.wait_for(
                "acme's credential",
                lambda: k.get("Secret", NS, broker.tenant_secret_name("acme")),
            )
            assert secret["metadata"]["labels"] == TENANT_SECRET_LABELS
            await k.wait_for(
                "acme on the broker",
                lambda: _broker_lists(k.kube, "acme"),
            )

    asyncio.run(scenario())


async def _broker_lists(kube: KubeClient, name: str) -> bool:
    broker_obj = await kube.get(API, "Broker", NS, "main")
    return name in ((broker_obj or {}).get("status") or {}).get("tenants", [])
