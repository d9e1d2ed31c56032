"""A Tenant whose reconcile cannot get the operator's own Vault token says so in Ready."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import kopf
import pytest
from kdfm_operator import conditions as cond
from kdfm_operator.context import OperatorContext
from kdfm_operator.errors import VaultTokenFileError, VaultTokenMissingError
from kdfm_operator.handlers import tenant as tenant_handler
from kdfm_operator.settings import OperatorSettings

from .resources import tenant

LOG = logging.getLogger(__name__)


async def _reconcile(
    settings: OperatorSettings,
) -> tuple[pytest.ExceptionInfo[Any], dict[str, Any]]:
    body = tenant("acme", signed=True)
    body["metadata"]["generation"] = 3
    patch: dict[str, Any] = {}
    with pytest.raises((kopf.PermanentError, kopf.TemporaryError)) as raised:
        await tenant_handler.reconcile(OperatorContext(settings=settings), body, patch, LOG)
    ready = cond.find(patch["status"]["conditions"], cond.READY)
    assert ready is not None
    return raised, dict(ready)


async def test_no_token_at_all_is_a_permanent_error_naming_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("VAULT_TOKEN", raising=False)
    raised, ready = await _reconcile(OperatorSettings())
    assert raised.type is kopf.PermanentError
    assert isinstance(raised.value.__cause__, VaultTokenMissingError)
    assert ready["status"] == "False"
    assert ready["reason"] == "VaultTokenMissing"
    assert "KDFM_OPERATOR_VAULT_TOKEN_FILE" in ready["message"]
    assert "VAULT_TOKEN" in ready["message"]
    assert ready["observedGeneration"] == 3


@pytest.mark.parametrize("content", [None, "  \n"], ids=["missing", "empty"])
async def test_unusable_token_file_is_retried_and_named(
    content: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # VAULT_TOKEN must not stand in for a configured file that cannot be used.
    monkeypatch.setenv("VAULT_TOKEN", "not-this-one")
    token_file = tmp_path / "vault-token"
    if content is not None:
        token_file.write_text(content, encoding="utf-8")
    raised, ready = await _reconcile(OperatorSettings(vault_token_file=token_file))
    assert raised.type is kopf.TemporaryError
    assert isinstance(raised.value.__cause__, VaultTokenFileError)
    assert ready["status"] == "False"
    assert ready["reason"] == "VaultTokenMissing"
    assert str(token_file) in ready["message"]
    assert ("empty" in ready["message"]) == (content is not None)
