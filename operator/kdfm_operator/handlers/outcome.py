"""The one place that turns operator errors into kopf's retry decisions."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from datetime import datetime
from typing import Any, NoReturn

import kopf

from kdfm_operator import conditions as cond
from kdfm_operator.errors import OperatorError

SKIP_CLEANUP = "fleet.kdfm.io/skip-cleanup"
"""Annotation that lets a deletion finish when the outside system (Vault) is gone for good."""


def raise_for(err: OperatorError, *, delay: float) -> NoReturn:
    """Retry after ``delay`` seconds when that can help; otherwise stop until the spec changes."""
    if err.retryable:
        raise kopf.TemporaryError(f"{err} (retrying in {delay:.0f}s)", delay=delay) from err
    raise kopf.PermanentError(f"{err} (not retrying until the resource changes)") from err


def fail_ready(
    status: MutableMapping[str, Any],
    reason: str,
    err: OperatorError,
    *,
    previous: Sequence[Mapping[str, Any]] | None,
    generation: int | None,
    now: datetime,
    delay: float,
) -> NoReturn:
    """Write Ready=False with ``reason`` and the error's message into ``status``, then raise_for.

    ``previous`` is the resource's current conditions list, merged so that the others survive.
    """
    status["conditions"] = cond.merge(
        previous,
        [cond.Condition(cond.READY, False, reason, str(err))],
        generation=generation,
        now=now,
    )
    raise_for(err, delay=delay)


def owner_reference(owner: Mapping[str, Any]) -> dict[str, Any]:
    """An ownerReference to the given object, so Kubernetes collects what we create with it."""
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta.get("uid", ""),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def skip_cleanup(meta: Mapping[str, Any]) -> bool:
    """Whether the resource asks to be deleted without cleaning up outside Kubernetes."""
    annotations = meta.get("annotations") or {}
    return str(annotations.get(SKIP_CLEANUP, "")).lower() == "true"
