"""What can be checked here of the operator's image and its gateway wiring: the chart's command
is a real CLI entry, the Containerfile's user is the chart's non-root user, the gateway client
Secret and identity render, and the cloud chart lists the same operator identity."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from typing import Any

import yaml
from kdfm_operator.settings import OperatorSettings

from .conftest import CHARTS, REPO, render

CONTAINERFILE = REPO / "operator" / "Containerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Containerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", CONTAINERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    return {"pod": pod, "container": pod["containers"][0]}


def env(c: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in c["container"]["env"]}


def test_chart_command_is_a_real_cli_entry_of_the_image() -> None:
    c = container(render("kdfm-operator", {}))
    steps = instructions()
    final_stage = steps[max(i for i, (op, _) in enumerate(steps) if op == "FROM"):]
    assert final_stage[0] == ("FROM", "python:3.11-slim")
    entrypoint = json.loads(next(args for op, args in final_stage if op == "ENTRYPOINT"))
    assert "command" not in c["container"], "the chart must not override the ENTRYPOINT"
    # The image runs `kdfm-operator <args>`: the console script of the wheel it installs.
    assert entrypoint == ["kdfm-operator"]
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["kdfm-operator"] == "kdfm_operator.cli:main"
    assert any("[operator]" in args for op, args in final_stage if op == "RUN")
    subcommand = c["container"]["args"][0]
    listed = subprocess.run(
        [sys.executable, "-m", "kdfm_operator.cli", "--help"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout
    assert subcommand == "run" and re.search(r"\brun\b", listed)
    flags = subprocess.run(
        [sys.executable, "-m", "kdfm_operator.cli", subcommand, "--help"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout
    for arg in c["container"]["args"][1:]:
        assert arg.split("=", 1)[0] in flags, arg


def test_image_user_is_the_charts_non_root_user() -> None:
    c = container(render("kdfm-operator", {}))
    user = [args for op, args in instructions() if op == "USER"][-1]
    uid, _, gid = user.partition(":")
    security = c["pod"]["securityContext"]
    assert security["runAsNonRoot"] is True
    assert int(uid) != 0
    assert (int(uid), int(gid)) == (security["runAsUser"], security["runAsGroup"])
    # The CRDs land where the chart tells the operator to read them.
    copies = [args for op, args in instructions() if op == "COPY"]
    crd_dir = env(c)["KDFM_OPERATOR_CRD_DIR"]
    assert any(a.startswith("charts/kdfm-crds/templates/") and a.endswith(f"{crd_dir}/")
               for a in copies)


def test_gateway_is_off_by_default_and_wired_when_set() -> None:
    off = container(render("kdfm-operator", {}))
    assert env(off)["KDFM_OPERATOR_GATEWAY_ADDRESS"] == ""
    assert OperatorSettings().gateway_address == ""
    values = yaml.safe_load((CHARTS / "kdfm-operator/ci/gateway-values.yaml").read_text())
    objects = render("kdfm-operator", values)
    on = container(objects)
    variables = env(on)
    assert variables["KDFM_OPERATOR_GATEWAY_ADDRESS"] == values["gateway"]["address"]
    mount = next(m for m in on["container"]["volumeMounts"] if m["name"] == "gateway-client")
    settings = OperatorSettings.from_env(variables)
    for path in (settings.gateway_cert_file, settings.gateway_key_file, settings.gateway_ca_file):
        assert str(path.parent) == mount["mountPath"]
    volume = next(v for v in on["pod"]["volumes"] if v["name"] == "gateway-client")
    identity = next(o for o in objects if o["kind"] == "VaultCertificate")
    # The VaultCertificate writes the Secret the operator mounts, with the operator's identity.
    assert volume["secret"]["secretName"] == identity["spec"]["secretName"]
    assert identity["spec"]["uriSans"] == ["kdfm://operator/platform"]
    assert identity["spec"]["usages"] == ["client auth"]


def test_cloud_chart_admits_the_operators_identity() -> None:
    operator_values = yaml.safe_load((CHARTS / "kdfm-operator/values.yaml").read_text())
    objects = render("kdfm-cloud", {})
    config_map = next(o for o in objects if o["kind"] == "ConfigMap"
                      and any("yaml" in k for k in o.get("data", {})))
    config = yaml.safe_load(next(v for k, v in config_map["data"].items() if "yaml" in k))
    assert config["gateway"]["admin_identities"] == [operator_values["gateway"]["identity"]["name"]]
