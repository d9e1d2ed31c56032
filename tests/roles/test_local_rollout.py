"""The role end to end on this machine (ansible_connection=local) into a temporary prefix:
install, a second run that changes nothing and calls no pip, check mode, removal; upgrade,
automatic rollback of a broken upgrade, operator rollback."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from roles.rolekit import LocalSite, PlaybookResult, Wheelhouses, run_playbook

pytestmark = pytest.mark.slow


def _deploy(site: LocalSite, *args: str, **overrides: Any) -> PlaybookResult:
    return run_playbook("deploy_dca.yml", site.inventory, {**site.base_vars, **overrides}, *args)


def _ok(result: PlaybookResult) -> PlaybookResult:
    assert result.returncode == 0, result.output[-6000:]
    return result


def _agent_status(site: LocalSite) -> int:
    return subprocess.run(
        [str(site.prefix / "current" / "bin" / "kdfm-agent"), "ctl", "status", "--config",
         str(site.prefix / "etc" / "agent.yml"), "--state-dir", str(site.state_dir)],
        capture_output=True, timeout=60).returncode


def _current(site: LocalSite) -> str:
    return os.readlink(site.prefix / "current")


def test_install_idempotent_check_mode_remove(local_site: LocalSite,
                                              wheelhouses: Wheelhouses) -> None:
    site = local_site
    # Check mode on a fresh site predicts changes and touches nothing.
    fresh_check = _ok(_deploy(site, "--check", "--diff"))
    assert fresh_check.recap["localhost"].changed > 0
    assert not site.prefix.exists()

    first = _ok(_deploy(site))
    assert first.recap["localhost"].changed > 0
    assert _current(site) == f"versions/{wheelhouses.base}"
    assert _agent_status(site) == 0, "the agent runs under kdfm-agent ctl"
    config = (site.prefix / "etc" / "agent.yml").read_text()
    assert "127.0.0.1:16100" in config and "cert.pem" in config
    assert oct((site.prefix / "etc" / "agent.yml").stat().st_mode & 0o777) == "0o600"
    marker = site.prefix / "versions" / wheelhouses.base / ".kdfm-installed"
    installed_at = marker.stat().st_mtime_ns

    second = _ok(_deploy(site))
    assert second.recap["localhost"].changed == 0, second.output[-4000:]
    assert marker.stat().st_mtime_ns == installed_at, "the second run must not call pip"

    installed_check = _ok(_deploy(site, "--check", "--diff"))
    assert installed_check.recap["localhost"].changed == 0, installed_check.output[-4000:]

    pid = int((site.state_dir / "kdfm-agent.pid").read_text())
    removed = run_playbook("remove_dca.yml", site.inventory, site.base_vars)
    assert removed.returncode == 0, removed.output[-4000:]
    assert not site.prefix.exists() and not site.state_dir.exists()
    assert not Path(f"/proc/{pid}").exists() or b"kdfm_agent" not in Path(
        f"/proc/{pid}/cmdline").read_bytes()
    again = run_playbook("remove_dca.yml", site.inventory, site.base_vars)
    assert again.returncode == 0 and again.recap["localhost"].changed == 0


def test_upgrade_automatic_rollback_and_downgrade(local_site: LocalSite,
                                                  wheelhouses: Wheelhouses) -> None:
    site = local_site
    _ok(_deploy(site))
    marker = site.prefix / "versions" / wheelhouses.base / ".kdfm-installed"
    installed_at = marker.stat().st_mtime_ns
    # An upgrade with a changed setting: new venv, new configuration, agent restarted.
    upgraded = _ok(_deploy(site, dca_agent_version=wheelhouses.upgrade,
                           dca_agent_read_interval_seconds=120))
    assert "interval_seconds: 120" in (site.prefix / "etc" / "agent.yml").read_text()
    assert upgraded.recap["localhost"].changed > 0
    assert _current(site) == f"versions/{wheelhouses.upgrade}"
    assert os.readlink(site.prefix / "previous") == f"versions/{wheelhouses.base}"
    assert _agent_status(site) == 0

    # The broken build installs and answers --version, but its check-config fails: the role
    # must put the previous version back by itself and fail the site with a clear message.
    broken = _deploy(site, dca_agent_version=wheelhouses.broken)
    assert broken.returncode != 0
    assert f"rolled back to kdfm {wheelhouses.upgrade}" in broken.output
    assert broken.recap["localhost"].rescued == 1
    assert _current(site) == f"versions/{wheelhouses.upgrade}"
    assert _agent_status(site) == 0

    # Going back needs consent; with it, the kept previous version is reused without pip.
    refused = _deploy(site)
    assert refused.returncode != 0
    assert "dca_agent_allow_downgrade" in refused.output
    _ok(_deploy(site, dca_agent_allow_downgrade=True))
    assert _current(site) == f"versions/{wheelhouses.base}"
    assert marker.stat().st_mtime_ns == installed_at
    assert _agent_status(site) == 0
    versions = sorted(p.name for p in (site.prefix / "versions").iterdir())
    assert versions == sorted([wheelhouses.base, wheelhouses.upgrade]), "only two kept"


def test_wrong_variable_fails_in_preflight_naming_it(local_site: LocalSite) -> None:
    bad_gateway = _deploy(local_site, dca_agent_gateway="gateway-without-port")
    assert bad_gateway.returncode != 0
    assert "dca_agent_gateway must be host:port" in bad_gateway.output
    bad_choice = _deploy(local_site, dca_agent_mqtt_transport="websocket")
    assert bad_choice.returncode != 0
    assert "dca_agent_mqtt_transport" in bad_choice.output
    bad_credential = _deploy(local_site, dca_agent_snmp_credentials=[
        {"name": "v3-without-user", "version": "3"}])
    assert bad_credential.returncode != 0
    assert "dca_agent_snmp_credentials[0] (v3-without-user) is invalid" in bad_credential.output
    assert not local_site.prefix.exists(), "nothing is installed after a failed preflight"


def test_secrets_never_show_at_vvv(local_site: LocalSite) -> None:
    secrets = {"auth": "Auth-S3cret-4f9a1c", "priv": "Priv-S3cret-77b2e0",
               "community": "Community-S3cret-0d51"}
    result = _deploy(local_site, "-vvv", dca_agent_snmp_credentials=[
        {"name": "office", "version": "2c", "community": secrets["community"]},
        {"name": "v3", "version": "3", "user": "kdfm", "auth_protocol": "SHA",
         "auth_key": secrets["auth"], "priv_protocol": "AES128", "priv_key": secrets["priv"]}])
    assert result.returncode == 0, result.output[-6000:]
    key_line = local_site.base_vars["dca_agent_identity"]["key_pem"].splitlines()[1]
    for name, secret in {**secrets, "identity key": key_line}.items():
        assert secret not in result.output, f"the {name} secret shows at -vvv"
    # ... while the agent got them.
    config = (local_site.prefix / "etc" / "agent.yml").read_text()
    assert all(secret in config for secret in secrets.values())
