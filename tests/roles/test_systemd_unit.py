"""The hardened systemd unit, rendered by Ansible and checked by systemd-analyze (offline: PID 1
is not systemd here, so the playbook tests exercise the `none` service manager instead)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from roles.rolekit import REPO, ROLE, VENV_BIN

# What a network agent cannot give up: it dials the gateway and the printers, resolves names
# (AF_UNIX for the resolver) and reads the clock. Any other ✗ fails the test.
ACCEPTED_EXPOSURE = ("RootDirectory=/RootImage=", "RestrictAddressFamilies=~AF_UNIX",
                     "RestrictAddressFamilies=~AF_(INET|INET6)", "PrivateNetwork=",
                     "DeviceAllow=", "IPAddressDeny=")


@pytest.fixture
def unit(tmp_path: Path) -> Path:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is missing (Debian package systemd)")
    prefix = tmp_path / "prefix"
    (prefix / "current" / "bin").mkdir(parents=True)
    binary = prefix / "current" / "bin" / "kdfm-agent"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    path = tmp_path / "kdfm-agent.service"
    result = subprocess.run(
        [str(VENV_BIN / "ansible"), "localhost", "-c", "local", "-m", "ansible.builtin.template",
         "-a", f"src={ROLE / 'templates' / 'kdfm-agent.service.j2'} dest={path}",
         "-e", f"dca_agent_prefix={prefix}", "-e", f"_dca_agent_config={prefix}/etc/agent.yml",
         "-e", "dca_agent_service_name=kdfm-agent", "-e", "dca_agent_state_dir=/var/lib/kdfm"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
        env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")})
    assert result.returncode == 0, result.stdout + result.stderr
    return path


def test_unit_verifies_without_any_message(unit: Path) -> None:
    result = subprocess.run(["systemd-analyze", "verify", unit.name], cwd=unit.parent,
                            capture_output=True, text=True, timeout=60)
    # verify exits 0 on parse errors too: any output on stderr is a defect.
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr


def test_unit_exposure_is_low(unit: Path) -> None:
    result = subprocess.run(["systemd-analyze", "security", "--offline=true", "--threshold=20",
                             "--no-pager", unit.name], cwd=unit.parent, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    flagged = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("✗")]
    assert set(flagged) <= set(ACCEPTED_EXPOSURE), flagged
    assert "Overall exposure level for kdfm-agent.service" in result.stdout
