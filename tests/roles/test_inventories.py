"""The shipped inventories parse, the example's secrets are vaulted, the playbooks are valid."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from roles.rolekit import REPO, VENV_BIN

EXAMPLE = REPO / "inventories" / "example"
VAULT_PASSWORD = EXAMPLE / "vault-password.EXAMPLE-ONLY.txt"
ENV = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}


def test_example_secrets_are_vaulted() -> None:
    vaults = sorted(EXAMPLE.glob("group_vars/*/vault.yml"))
    assert vaults, "the example shows where vaulted secrets go"
    for vault in vaults:
        text = vault.read_text()
        assert text.startswith("$ANSIBLE_VAULT;1.1;AES256"), vault
        assert "EXAMPLE-CODE" not in text


def test_example_inventory_decrypts_with_the_throwaway_password() -> None:
    result = subprocess.run(
        [str(VENV_BIN / "ansible-inventory"), "-i", str(EXAMPLE), "--vault-password-file",
         str(VAULT_PASSWORD), "--host", "acme-hq-dca01.example.net"],
        cwd=REPO, env=ENV, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    host = json.loads(result.stdout)
    assert host["vault_dca_agent_activation_code"] == "ACME-HQ-EXAMPLE-CODE-0001"
    assert host["dca_agent_snmp_exclusions"] == ["192.0.2.22"]


@pytest.mark.parametrize("playbook", ["deploy_dca.yml", "remove_dca.yml"])
@pytest.mark.parametrize("inventory", ["demo", "example"])
def test_playbooks_pass_syntax_check(playbook: str, inventory: str) -> None:
    result = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "--syntax-check", "-i",
         str(REPO / "inventories" / inventory), "--vault-password-file", str(VAULT_PASSWORD),
         str(REPO / "playbooks" / playbook)],
        cwd=REPO, env=ENV, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert Path(REPO / "playbooks" / playbook).exists()
