"""Example custom resources validate against the CRDs; invalid ones fail on the named field."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import EXAMPLES

Validate = Callable[[dict[str, Any]], list[tuple[str, str]]]


def docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


VALID = sorted(EXAMPLES.glob("*.yaml"))
INVALID = sorted((EXAMPLES / "invalid").glob("*.yaml"))


def test_examples_exist() -> None:
    assert len(VALID) >= 3
    assert len(INVALID) >= 4


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_example(path: Path, validate_custom_resource: Validate) -> None:
    for doc in docs(path):
        assert validate_custom_resource(doc) == [], f"{path.name} {doc['kind']}"


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_example_names_the_field(path: Path, validate_custom_resource: Validate) -> None:
    (doc,) = docs(path)
    expected = doc["metadata"]["annotations"]["kdfm.io/expected-error-field"]
    errors = validate_custom_resource(doc)
    assert errors, f"{path.name} should be refused"
    # The error points at the field itself, or (for a missing required field) at its parent with
    # the field's name in the message, as the API server reports it.
    parent, _, leaf = expected.rpartition(".")
    assert any(
        field == expected or (field == parent and repr(leaf) in msg) for field, msg in errors
    ), errors


def test_non_eu_regions_all_refused(validate_custom_resource: Validate) -> None:
    (doc,) = docs(EXAMPLES / "tenant-acme.yaml")
    for region in ("us-east-1", "eu-west-2-london", "EU-CENTRAL", "ap-south", ""):
        doc["spec"]["region"] = region
        assert (
            "spec.region",
            f"{region!r} is not one of ['eu-central', 'eu-west', 'eu-north', 'eu-south']",
        ) in validate_custom_resource(doc)
    for region in ("eu-central", "eu-west", "eu-north", "eu-south"):
        doc["spec"]["region"] = region
        assert validate_custom_resource(doc) == []


def test_each_missing_agreement_field_is_named(validate_custom_resource: Validate) -> None:
    (doc,) = docs(EXAMPLES / "tenant-acme.yaml")
    for field in ("signedBy", "signedAt", "documentRef"):
        spec = dict(doc["spec"])
        dpa = dict(spec["dataProcessingAgreement"])
        del dpa[field]
        spec["dataProcessingAgreement"] = dpa
        errors = validate_custom_resource({**doc, "spec": spec})
        assert errors == [("spec.dataProcessingAgreement", f"{field!r} is a required property")]


def test_unknown_spec_fields_are_refused(validate_custom_resource: Validate) -> None:
    (doc,) = docs(EXAMPLES / "tenant-acme.yaml")
    doc["spec"]["regoin"] = "eu-west"
    assert any("regoin" in msg for _, msg in validate_custom_resource(doc))


def test_status_conditions_schema(validate_custom_resource: Validate) -> None:
    (doc,) = docs(EXAMPLES / "tenant-pending.yaml")
    doc["status"] = {
        "observedGeneration": 1,
        "conditions": [
            {
                "type": "Ready",
                "status": "False",
                "reason": "AgreementNotSigned",
                "message": "not signed",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
                "observedGeneration": 1,
            }
        ],
    }
    assert validate_custom_resource(doc) == []
    doc["status"]["conditions"][0]["status"] = "Maybe"
    assert validate_custom_resource(doc)
