"""Shared pieces of the chart and example tests: repo paths, rendering, CRD schema validation."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import pytest
import yaml
from kdfm_operator.crds import Crd, load_crds
from kdfm_operator.settings import OperatorSettings

REPO = Path(__file__).resolve().parents[2]
CHARTS = REPO / "charts"
EXAMPLES = REPO / "examples"

# jsonschema checks "date-time" only with an optional package; Kubernetes does check it.
_FORMATS = jsonschema.FormatChecker()


@_FORMATS.checks("date-time", raises=ValueError)
def _is_rfc3339(value: object) -> bool:
    if not isinstance(value, str) or "T" not in value:
        raise ValueError(f"{value!r} is not an RFC 3339 date-time")
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


def render(chart: str, values: dict[str, Any], namespace: str = "kdfm") -> list[dict[str, Any]]:
    """The objects a chart under charts/ renders (as ``helm install``) with these values."""
    manifests = helm.Chart.load(CHARTS / chart).render(
        values, name="kdfm", namespace=namespace, is_install=True
    )
    objects = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            continue
        objects.extend(d for d in yaml.safe_load_all(text) if d)
    return objects


@functools.cache
def _crds() -> dict[str, Crd]:
    # Read once per session: every example and rendered resource is checked against the same CRDs.
    return load_crds(OperatorSettings().crd_dir)


def crd_errors(resource: dict[str, Any]) -> list[tuple[str, str]]:
    """Schema errors of a custom resource as (dotted field path, message); empty when valid."""
    crd = _crds()[resource["kind"]]
    assert resource["apiVersion"] == f"{crd.group}/{crd.version}", resource["apiVersion"]
    validator = jsonschema.Draft7Validator(crd.schema, format_checker=_FORMATS)
    return sorted(
        (".".join(str(p) for p in err.absolute_path), err.message)
        for err in validator.iter_errors(resource)
    )


@pytest.fixture
def validate_custom_resource() -> Callable[[dict[str, Any]], list[tuple[str, str]]]:
    """The CRD-schema validator for custom resources (kubernetes-validate only warns on them)."""
    return crd_errors
