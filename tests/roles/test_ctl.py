"""`kdfm-agent ctl`: the agent's own service manager, driving a real agent process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kdfm_cloud.devstack.processes import free_port
from kdfm_cloud.devstack.tls import make_server_tls
from roles.rolekit import stop_agents


def _config(tmp_path: Path, *, cert_file: str | None = None) -> Path:
    tls = make_server_tls(tmp_path / "tls", common_name="ctl-test")
    config = tmp_path / "agent.yml"
    config.write_text(yaml.safe_dump({
        "tenant": "acme", "agent_id": "ctl-test", "state_dir": str(tmp_path / "state"),
        # Nothing listens on this loopback port: the agent keeps retrying, which is all we need.
        "gateway": {"address": f"127.0.0.1:{free_port()}", "ca_file": str(tls.ca_cert),
                    "cert_file": cert_file or str(tls.cert), "key_file": str(tls.key)},
    }))
    return config


def _ctl(action: str, config: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kdfm_agent.cli", "ctl", action, "--config",
                           str(config), *extra], capture_output=True, text=True, timeout=120)


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    try:
        yield tmp_path / "state"
    finally:
        stop_agents([tmp_path / "state"])


def test_start_status_stop(tmp_path: Path, state_dir: Path) -> None:
    config = _config(tmp_path)
    assert _ctl("status", config).returncode == 3
    started = _ctl("start", config)
    assert started.returncode == 0, started.stderr
    assert "started (pid" in started.stdout
    pid = int((state_dir / "kdfm-agent.pid").read_text())
    assert b"kdfm_agent.cli" in Path(f"/proc/{pid}/cmdline").read_bytes()
    assert os.getsid(pid) == pid, "the agent leads a session of its own"
    again = _ctl("start", config)
    assert again.returncode == 0 and f"already running (pid {pid})" in again.stdout
    status = _ctl("status", config)
    assert status.returncode == 0 and f"pid {pid}" in status.stdout
    restarted = _ctl("restart", config, "--state-dir", str(state_dir))
    assert restarted.returncode == 0, restarted.stderr
    new_pid = int((state_dir / "kdfm-agent.pid").read_text())
    assert new_pid != pid
    stopped = _ctl("stop", config)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert not (state_dir / "kdfm-agent.pid").exists()
    assert _ctl("status", config).returncode == 3
    assert "was not running" in _ctl("stop", config).stdout
    assert (state_dir / "kdfm-agent.log").exists()


def test_start_reports_an_agent_that_dies_at_once(tmp_path: Path, state_dir: Path) -> None:
    config = _config(tmp_path, cert_file=str(tmp_path / "missing-cert.pem"))
    result = _ctl("start", config, "--state-dir", str(state_dir))
    assert result.returncode == 1
    assert "exited with status 2 right after start" in result.stderr
    assert "cannot read the gateway TLS files" in result.stderr, "the log tail is quoted"
    assert _ctl("status", config, "--state-dir", str(state_dir)).returncode == 3


def test_stale_pid_file_is_dead_and_never_killed(tmp_path: Path, state_dir: Path) -> None:
    config = _config(tmp_path)
    state_dir.mkdir()
    # A live process that is not the agent (this test) must not be taken for it.
    (state_dir / "kdfm-agent.pid").write_text(f"{os.getpid()}\n")
    status = _ctl("status", config)
    assert status.returncode == 1 and "dead" in status.stdout
    assert _ctl("stop", config).returncode == 0
    assert not (state_dir / "kdfm-agent.pid").exists()


def test_unreadable_config_is_status_unknown(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yml"
    status = _ctl("status", missing)
    assert status.returncode == 4
    assert "nope.yml" in status.stderr
    assert _ctl("start", missing).returncode == 2
