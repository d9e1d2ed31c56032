"""The agent's configuration file and `kdfm-agent check-config`."""

from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys
import typing
from pathlib import Path

import pytest
from kdfm_agent.errors import ConfigError
from kdfm_agent.settings import AgentSettings, load_settings

from ..cloud.kit import Pki


def _check_config(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kdfm_agent.cli", "check-config",
                           "--config", str(path), *extra], capture_output=True, text=True,
                          timeout=60)


def test_defaults_are_the_promised_ones(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text("{}\n")
    settings = load_settings(path)
    assert settings.poll.interval_seconds == 300
    assert (settings.mqtt.transport, settings.mqtt.port) == ("websockets", 443)
    assert settings.spool_path == Path("/var/lib/kdfm-agent/spool.db")


def test_every_setting_has_a_default_a_type_and_a_docstring() -> None:
    classes: list[type] = [AgentSettings]
    seen: set[type] = set()
    while classes:
        cls = classes.pop()
        if cls in seen:
            continue
        seen.add(cls)
        hints = typing.get_type_hints(cls)
        # Nested settings may live beside what they configure (PacingSettings in snmp.pacing).
        source = inspect.getsource(inspect.getmodule(cls))  # type: ignore[arg-type]
        for f in dataclasses.fields(cls):
            assert f.default is not dataclasses.MISSING or \
                f.default_factory is not dataclasses.MISSING, f"{cls.__name__}.{f.name}"
            assert f.name in hints
            # The sentence right under the field, as in the house style.
            marker = f"    {f.name}: "
            after = source[source.index(marker, source.index(f"class {cls.__name__}")):]
            assert after.splitlines()[1].strip().startswith('"""'), f"{cls.__name__}.{f.name}"
            if dataclasses.is_dataclass(hints[f.name]):
                classes.append(hints[f.name])
    assert len(seen) >= 7


@pytest.mark.parametrize(("text", "message"), [
    ("poll:\n  interval_seconds: often\n", "poll.interval_seconds must be float"),
    ("reed: {}\n", "unknown setting(s) reed"),
    ("mqtt:\n  transport: udp\n", "mqtt.transport must be one of websockets, tcp"),
    ("poll:\n  jitter_fraction: 1.5\n", "poll.jitter_fraction must be in [0, 1)"),
    ("read:\n  credentials:\n    - {version: '3', user: u, auth_protocol: SHA, auth_key: short}\n",
     "at least 8 characters"),
    ("- a list\n", "must be a mapping"),
    ("read:\n  targets: [10.0.0.0/33]\n", "read.targets: scan spec '10.0.0.0/33'"),
    ("read:\n  exclusions: ['10.0.0.9-10.0.0.1']\n", "the end comes before the start"),
    ("read:\n  pacing: {floor: 9, initial: 8}\n", "floor <= initial <= ceiling"),
    ("read:\n  port: 0\n", "read.port must be in 1..65535"),
])
def test_mistakes_are_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=None) as err:
        load_settings(path)
    assert message in str(err.value)
    assert str(path) in str(err.value)
    result = _check_config(path)
    assert result.returncode == 2 and message in result.stderr


def test_check_config_accepts_a_valid_file(tmp_path: Path, pki: Pki) -> None:
    cert, key = pki.agent_files("tenant-a", "agent-1")
    path = tmp_path / "agent.yaml"
    path.write_text(f"""
tenant: tenant-a
agent_id: agent-1
state_dir: {tmp_path / 'state'}
gateway: {{address: "gw.example:443", ca_file: {pki.ca_file}, cert_file: {cert},
          key_file: {key}}}
read:
  targets: [10.0.0.5]
  credentials: [{{name: office, community: s3cret}}]
""")
    result = _check_config(path, "--json")
    assert result.returncode == 0, result.stderr
    assert '"agent_id": "agent-1"' in result.stdout
    assert "s3cret" not in result.stdout


def test_without_identity_or_files_the_agent_says_to_enroll(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(f"state_dir: {tmp_path / 'state'}\n")
    result = _check_config(path)
    assert result.returncode == 2
    assert "not enrolled" in result.stderr


def test_settings_only_checks_a_file_before_enrolment(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(f"""
state_dir: {tmp_path / 'state'}
read:
  targets: [10.0.0.0/24, printer.example:1161]
  exclusions: [10.0.0.1-10.0.0.9]
  credentials: [{{name: office, community: s3cret}}]
  pacing: {{ceiling: 32}}
""")
    result = _check_config(path, "--settings-only", "--json")
    assert result.returncode == 0, result.stderr
    assert '"agent": null' in result.stdout
    assert '"ceiling": 32' in result.stdout and '"discover_interval_seconds": 86400.0' in \
        result.stdout
    assert "s3cret" not in result.stdout
    text = _check_config(path, "--settings-only")
    assert text.returncode == 0 and "identity not checked" in text.stdout
    # The default still insists on an identity.
    assert _check_config(path).returncode == 2
    path.write_text(path.read_text().replace("10.0.0.0/24", "10.0.0.0/8"))
    refused = _check_config(path, "--settings-only")
    assert refused.returncode == 2 and "more than the limit" in refused.stderr
