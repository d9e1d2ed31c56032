"""The tenant's Vault PKI role is one contract written twice: the operator makes it from a Tenant
(kdfm_operator.reconcile.tenant) and the gateway makes or refreshes it (kdfm_cloud.vaultpki).
The layers forbid the two packages sharing the code, so these tests keep the copies in step.
"""

from __future__ import annotations

import uuid

import pytest
from kdfm_cloud import vaultpki
from kdfm_cloud.devstack.openbao import Vault
from kdfm_operator.clients.vault import VaultClient
from kdfm_operator.reconcile import tenant as operator_tenant

TENANTS = ["acme", "Tenant_7", "a", "print.shop-01", "x" * 128]
TTLS = ["720h", "24h", "3600s", "90m"]


@pytest.mark.parametrize("name", TENANTS)
def test_role_name_is_the_same(name: str) -> None:
    assert operator_tenant.role_name(name) == vaultpki.tenant_role(name)


@pytest.mark.parametrize("ttl", TTLS)
@pytest.mark.parametrize("name", TENANTS)
def test_role_params_are_the_same(name: str, ttl: str) -> None:
    assert operator_tenant.role_params(name, ttl) == vaultpki.tenant_role_params(name, ttl)


@pytest.mark.vault
def test_gateway_keeps_the_role_the_operator_wrote(vault: Vault) -> None:
    name = f"contract-{uuid.uuid4().hex[:8]}"
    role = operator_tenant.role_name(name)
    params = operator_tenant.role_params(name, "72h")
    operator = VaultClient(vault.addr, vault.token, timeout_s=30)
    operator.ensure_role(vault.int_mount, role, params)
    before = operator.read_role(vault.int_mount, role)
    assert before is not None
    assert before["max_ttl"] == 72 * 3600
    assert before["allowed_uri_sans"] == [f"kdfm://tenant/{name}/agent/*"]

    # The gateway's default lifetime differs from the operator's: the operator's must stay.
    assert vaultpki.ensure_tenant_role(vault.client(), vault.int_mount, name,
                                       max_ttl="720h") == role

    after = operator.read_role(vault.int_mount, role)
    assert after is not None
    assert set(params) <= set(before)
    assert {key: after[key] for key in params} == {key: before[key] for key in params}
