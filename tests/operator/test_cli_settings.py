"""The CLI sub-commands and settings from the environment."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
import yaml
from kdfm_operator.crds import KINDS, load_crds
from kdfm_operator.settings import OperatorSettings

REPO = Path(__file__).resolve().parents[2]


def test_crds_command_prints_the_one_source() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "kdfm_operator.cli", "crds"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    docs = list(yaml.safe_load_all(out))
    on_disk = load_crds(REPO / "charts/kdfm-crds/templates")
    assert sorted(d["spec"]["names"]["kind"] for d in docs) == sorted(KINDS)
    assert {d["metadata"]["name"]: d for d in docs} == {
        c.document["metadata"]["name"]: c.document for c in on_disk.values()
    }


def test_run_command_is_registered() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "kdfm_operator.cli", "run", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert "--namespace" in out and "--liveness" in out


def test_settings_defaults_and_env() -> None:
    s = OperatorSettings()
    assert s.crd_dir == REPO / "charts/kdfm-crds/templates"
    env = {
        "KDFM_OPERATOR_BACKOFF_MAX_S": "120",
        "KDFM_OPERATOR_NAMESPACE": "fleet",
        "KDFM_OPERATOR_CRD_DIR": "/opt/kdfm/crds",
    }
    s = OperatorSettings.from_env(env)
    assert (s.backoff_max_s, s.namespace, s.crd_dir) == (120.0, "fleet", Path("/opt/kdfm/crds"))
    with pytest.raises(ValueError, match="KDFM_OPERATOR_RETRY_DELAY_S"):
        OperatorSettings.from_env({"KDFM_OPERATOR_RETRY_DELAY_S": "soon"})


def test_env_values_take_the_type_of_their_field() -> None:
    s = OperatorSettings.from_env(
        {
            "KDFM_OPERATOR_VAULT_TOKEN_FILE": "/run/vault/token",
            "KDFM_OPERATOR_GATEWAY_CA_FILE": "/run/gw/ca.crt",
            "KDFM_OPERATOR_GATEWAY_SERVER_NAME": "gateway.kdfm.test",
            "KDFM_OPERATOR_GATEWAY_TIMEOUT_S": "2.5",
        }
    )
    assert s.vault_token_file == Path("/run/vault/token")
    assert s.gateway_ca_file == Path("/run/gw/ca.crt")
    assert s.gateway_server_name == "gateway.kdfm.test"
    assert s.gateway_timeout_s == 2.5


def test_every_setting_has_a_docstring() -> None:
    source = (REPO / "operator/kdfm_operator/settings.py").read_text()
    for f in fields(OperatorSettings):
        _, _, rest = source.partition(f"    {f.name}: ")
        assert rest, f.name
        after = rest.split("\n", 2)[1].strip()
        assert after.startswith('"""') and after.endswith('"""'), f"{f.name} lacks its sentence"


def test_missing_crd_dir_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="KDFM_OPERATOR_CRD_DIR"):
        load_crds(tmp_path / "nope")
    with pytest.raises(ValueError, match="Tenant"):
        load_crds(tmp_path)
