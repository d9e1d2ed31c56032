"""Helpers of the Ansible role tests: run a playbook and read its recap, build wheelhouses.

The wheelhouse of the tree's own version is built with the role's own script (pip wheel of
kdfm[agent]); further versions reuse its dependency wheels and add a kdfm wheel built from a
temporary copy of the tree with a patched version string (pyproject.toml is never edited).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kdfm_agent.daemon import DaemonSettings, Health, health

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "dca_agent"
VENV_BIN = Path(sys.executable).parent
ANSIBLE_PLAYBOOK = VENV_BIN / "ansible-playbook"
SITE_PYTHON = "/usr/bin/python3"
PLAYBOOK_TIMEOUT = 600
RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)"
                   r"\s+skipped=(\d+)\s+rescued=(\d+)\s+ignored=(\d+)", re.MULTILINE)


def tree_version() -> str:
    """The version in pyproject.toml (what the tree builds)."""
    match = re.search(r'^version = "([^"]+)"', (REPO / "pyproject.toml").read_text(), re.M)
    assert match, "pyproject.toml has no version line"
    return match.group(1)


@dataclasses.dataclass(frozen=True)
class Recap:
    """One host's line of the PLAY RECAP."""

    ok: int
    changed: int
    unreachable: int
    failed: int
    skipped: int
    rescued: int


@dataclasses.dataclass(frozen=True)
class PlaybookResult:
    """What one ansible-playbook run printed and returned."""

    returncode: int
    output: str

    @property
    def recap(self) -> dict[str, Recap]:
        """Host -> its recap counters."""
        return {m[0]: Recap(*(int(n) for n in m[1:7])) for m in RECAP.findall(self.output)}


def run_playbook(playbook: str, inventory: Path, extra_vars: Mapping[str, Any] | None = None,
                 *args: str, env: Mapping[str, str] | None = None,
                 timeout: float = PLAYBOOK_TIMEOUT) -> PlaybookResult:
    """Run `playbooks/<playbook>` with the repository's ansible.cfg; output is kept for asserts."""
    argv = [str(ANSIBLE_PLAYBOOK), "-i", str(inventory), str(REPO / "playbooks" / playbook)]
    if extra_vars:
        vars_file = inventory.with_name(f"extra-{time.monotonic_ns()}.json")
        vars_file.write_text(json.dumps(dict(extra_vars)))
        argv += ["-e", f"@{vars_file}"]
    full_env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
                "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_HOST_KEY_CHECKING": "False", "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
                **(env or {})}
    result = subprocess.run([*argv, *args], cwd=REPO, env=full_env, capture_output=True,
                            text=True, timeout=timeout)
    return PlaybookResult(result.returncode, result.stdout + result.stderr)


@dataclasses.dataclass(frozen=True)
class Wheelhouses:
    """Controller wheelhouses, one directory per version, as the role expects them."""

    root: Path
    base: str
    upgrade: str
    broken: str


def _copy_tree(destination: Path) -> None:
    ignore = shutil.ignore_patterns(".git", ".venv", ".kdfm", "tests", "bench", "__pycache__",
                                    "*.egg-info", "build", ".mypy_cache", ".ruff_cache",
                                    ".pytest_cache", "charts", "examples")
    shutil.copytree(REPO, destination, ignore=ignore)


def build_variant(root: Path, base: str, version: str, work: Path,
                   extra_files: Mapping[str, str] = {}) -> None:
    """A wheelhouse for `version`: the base's dependency wheels plus a patched kdfm wheel."""
    source = work / f"src-{version}"
    _copy_tree(source)
    pyproject = source / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace(f'version = "{base}"',
                                                       f'version = "{version}"', 1))
    init = source / "agent" / "kdfm_agent" / "__init__.py"
    init.write_text(re.sub(r'__version__ = "[^"]+"', f'__version__ = "{version}"',
                           init.read_text()))
    for name, text in extra_files.items():
        (source / name).write_text(text)
    target = root / version
    shutil.copytree(root / base, target, ignore=shutil.ignore_patterns("kdfm-*", "SHA256SUMS"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "--wheel-dir", str(target), str(source)],
                   check=True, capture_output=True, timeout=300)
    assert (target / f"kdfm-{version}-py3-none-any.whl").exists()
    sums = subprocess.run("sha256sum -- *.whl", shell=True, cwd=target, check=True,
                          capture_output=True, text=True, timeout=60).stdout
    (target / "SHA256SUMS").write_text(sums)


# Replaces the `check-config` command: the build passes `--version` and installs, so the role
# switches to it and must roll back when the health check fails. (The CLI imports only the
# module of the command it runs, so the broken module must be that command's own.)
BROKEN_CHECK_CONFIG = '''"""Deliberately broken check-config (a test build only)."""
import sys


def register(subparsers):
    parser = subparsers.add_parser("check-config")
    parser.add_argument("--config")
    parser.add_argument("--settings-only", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=fail)


def fail(args):
    print("this test build of kdfm cannot check configurations", file=sys.stderr)
    return 1
'''


def stop_agents(state_dirs: Sequence[Path]) -> None:
    """Kill agents the role left running under these state directories (test cleanup)."""
    for state_dir in state_dirs:
        state, pid = health(DaemonSettings(state_dir=state_dir))
        if state is Health.RUNNING and pid is not None:
            os.kill(pid, signal.SIGKILL)


@dataclasses.dataclass(frozen=True)
class LocalSite:
    """A site on this machine over ansible_connection=local, in its own temporary prefix."""

    inventory: Path
    prefix: Path
    state_dir: Path
    base_vars: dict[str, Any]


