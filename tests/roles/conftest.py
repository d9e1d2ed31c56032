"""Fixtures for the Ansible role tests: wheelhouses built once per session, a pre-issued
identity so that the agent runs without a cloud to enrol with, and a local site."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from kdfm_cloud.devstack.processes import free_port
from kdfm_cloud.devstack.tls import make_server_tls
from roles.rolekit import (
    BROKEN_CHECK_CONFIG,
    REPO,
    ROLE,
    SITE_PYTHON,
    LocalSite,
    Wheelhouses,
    build_variant,
    stop_agents,
    tree_version,
)


@pytest.fixture(scope="session")
def wheelhouses(tmp_path_factory: pytest.TempPathFactory) -> Wheelhouses:
    """The tree's version, an upgrade (+1 patch) and a broken upgrade (+2), built once."""
    root = tmp_path_factory.mktemp("wheelhouses")
    base = tree_version()
    major, minor, patch = (int(p) for p in base.split(".")[:3])
    upgrade, broken = f"{major}.{minor}.{patch + 1}", f"{major}.{minor}.{patch + 2}"
    subprocess.run(["bash", str(ROLE / "files" / "build_wheelhouse.sh"), sys.executable,
                    str(REPO), str(root / base), base], check=True, capture_output=True,
                   timeout=600)
    work = tmp_path_factory.mktemp("variants")
    build_variant(root, base, upgrade, work)
    build_variant(root, base, broken, work,
                   {"agent/kdfm_agent/commands/check_config.py": BROKEN_CHECK_CONFIG})
    return Wheelhouses(root=root, base=base, upgrade=upgrade, broken=broken)


@pytest.fixture(scope="session")
def identity(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A pre-issued identity (throwaway CA and certificate) for dca_agent_identity."""
    tls = make_server_tls(tmp_path_factory.mktemp("identity"), common_name="agent-test")
    return {"tenant": "acme", "agent_id": "agent-test", "ca_pem": tls.ca_cert.read_text(),
            "cert_pem": tls.cert.read_text(), "key_pem": tls.key.read_text()}


@pytest.fixture
def local_site(tmp_path: Path, wheelhouses: Wheelhouses,
               identity: dict[str, str]) -> Iterator[LocalSite]:
    """An inventory of localhost with a fresh prefix; agents left running are killed after."""
    prefix, state_dir = tmp_path / "prefix", tmp_path / "state"
    inventory = tmp_path / "inventory" / "hosts.yml"
    inventory.parent.mkdir()
    inventory.write_text(json.dumps({"dca_sites": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
    base_vars = {
        "dca_agent_prefix": str(prefix), "dca_agent_state_dir": str(state_dir),
        "dca_agent_python": SITE_PYTHON, "dca_agent_wheelhouse_dir": str(wheelhouses.root),
        "dca_agent_version": wheelhouses.base, "dca_agent_identity": identity,
        # Nothing listens there: the agent keeps retrying on loopback, which is all we need.
        "dca_agent_gateway": f"127.0.0.1:{free_port()}",
        "dca_agent_snmp_targets": ["127.0.0.1:16100"],
    }
    try:
        yield LocalSite(inventory, prefix, state_dir, base_vars)
    finally:
        stop_agents([state_dir])
