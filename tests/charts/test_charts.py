"""Charts: lint (strict), render with every ci/*-values.yaml, validate what they render.

Core objects are validated by kubernetes-validate in strict mode (unknown fields are errors);
custom resources, on which kubernetes-validate only warns, by jsonschema against our CRDs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from .conftest import CHARTS, render

KUBE_VERSION = "1.33.0"
Validate = Callable[[dict[str, Any]], list[tuple[str, str]]]
STANDARD_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/part-of",
)

CASES = [
    (chart.name, values)
    for chart in sorted(CHARTS.iterdir())
    if (chart / "Chart.yaml").exists()
    for values in sorted((chart / "ci").glob("*-values.yaml"))
]


def test_every_chart_has_the_required_files() -> None:
    charts = sorted(p.name for p in CHARTS.iterdir() if (p / "Chart.yaml").exists())
    assert charts == ["kdfm-cloud", "kdfm-crds", "kdfm-operator"]
    for name in charts:
        for required in ("values.yaml", "values.schema.json", "templates/NOTES.txt"):
            assert (CHARTS / name / required).is_file(), f"{name}/{required}"
        assert list((CHARTS / name / "ci").glob("*-values.yaml")), name


@pytest.mark.parametrize(("chart", "values_file"), CASES, ids=lambda v: getattr(v, "name", v))
def test_lint_strict(chart: str, values_file: Path) -> None:
    values = yaml.safe_load(values_file.read_text()) or {}
    report = helm.lint(CHARTS / chart, values, strict=True, kube_version=f"v{KUBE_VERSION}")
    assert report["errors"] == []
    # Severity 1 is "info" (e.g. "icon is recommended"); warnings and errors fail.
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize(("chart", "values_file"), CASES, ids=lambda v: getattr(v, "name", v))
def test_rendered_objects_validate(
    chart: str, values_file: Path, validate_custom_resource: Validate
) -> None:
    values = yaml.safe_load(values_file.read_text()) or {}
    objects = render(chart, values)
    assert objects
    for obj in objects:
        labels = obj["metadata"].get("labels", {})
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        if obj["apiVersion"].startswith("fleet.kdfm.io/"):
            assert validate_custom_resource(obj) == [], where
        else:
            kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
        if chart != "kdfm-crds":
            for key in STANDARD_LABELS:
                assert key in labels, f"{where} lacks label {key}"
        else:
            assert labels["app.kubernetes.io/part-of"] == "kdfm"


def test_crds_render_unchanged_from_the_one_source() -> None:
    rendered = render("kdfm-crds", {})
    on_disk = [
        yaml.safe_load(p.read_text())
        for p in sorted((CHARTS / "kdfm-crds/templates").glob("*.yaml"))
    ]
    key = lambda d: d["metadata"]["name"]  # noqa: E731
    assert sorted(rendered, key=key) == sorted(on_disk, key=key)
    for crd in rendered:
        version = crd["spec"]["versions"][0]
        assert version["subresources"] == {"status": {}}
        columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
        assert columns["Ready"] == '.status.conditions[?(@.type=="Ready")].status'
        kubernetes_validate.validate(crd, KUBE_VERSION, strict=True)


def test_crds_refuse_values() -> None:
    with pytest.raises(helm.HelmError, match="additional"):
        helm.Chart.load(CHARTS / "kdfm-crds").validate_schema({"install": True})


def test_operator_rbac_is_namespaced_when_watching_one_namespace() -> None:
    cluster = {o["kind"] for o in render("kdfm-operator", {})}
    assert {"ClusterRole", "ClusterRoleBinding"} <= cluster
    assert "Role" not in cluster
    objs = render("kdfm-operator", {"watchNamespace": "fleet"})
    kinds = {o["kind"] for o in objs}
    assert "ClusterRole" not in kinds and {"Role", "RoleBinding"} <= kinds
    role = next(o for o in objs if o["kind"] == "Role")
    assert role["metadata"]["namespace"] == "fleet"
    verbs = {v for rule in role["rules"] for v in rule["verbs"]}
    # Least privilege: no wildcards, no escalation verbs.
    assert "*" not in verbs and not verbs & {"escalate", "bind", "impersonate"}
    assert all("*" not in rule["resources"] for rule in role["rules"])
    dep = next(o for o in objs if o["kind"] == "Deployment")
    assert "--namespace=fleet" in dep["spec"]["template"]["spec"]["containers"][0]["args"]


@pytest.mark.parametrize(
    ("chart", "values", "field"),
    [
        ("kdfm-operator", {"watchNamespace": "Not_A_Namespace"}, "watchNamespace"),
        ("kdfm-operator", {"settings": {"agentCertMaxTtl": "90d"}}, "agentCertMaxTtl"),
        ("kdfm-operator", {"vault": {"address": "vault:8200", "tokenSecret": "t"}}, "address"),
        ("kdfm-cloud", {"postgresql": {"sslmode": "disable"}}, "sslmode"),
        ("kdfm-cloud", {"broker": {"replicas": 0}}, "replicas"),
        ("kdfm-cloud", {"gateway": {"servicePort": 70000}}, "servicePort"),
        ("kdfm-cloud", {"typo": 1}, "typo"),
    ],
)
def test_bad_values_are_refused_by_the_schema(
    chart: str, values: dict[str, Any], field: str
) -> None:
    with pytest.raises(helm.HelmError) as err:
        helm.Chart.load(CHARTS / chart).render(values, name="kdfm", namespace="kdfm")
    assert field in str(err.value)


def test_cloud_renders_postgres_settings_and_broker() -> None:
    objs = render(
        "kdfm-cloud",
        {"postgresql": {"host": "db.internal", "port": 6432, "database": "fleet", "user": "u"}},
    )
    config = next(o for o in objs if o["kind"] == "ConfigMap")["data"]["cloud.yaml"]
    cloud = yaml.safe_load(config)
    assert cloud["store"]["database"] == "postgresql://u@db.internal:6432/fleet?sslmode=verify-full"
    assert "password" not in cloud["store"]["database"]
    kinds = sorted(o["kind"] for o in objs)
    assert kinds.count("VaultCertificate") == 2 and "Broker" in kinds
    assert "HorizontalPodAutoscaler" in kinds
