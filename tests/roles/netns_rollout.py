"""An inventory of network-namespace sites (tests/harness/netns.py) and the deploy playbook.

The sites share this machine's filesystem, so each gets its own install prefix and state
directory under the work directory; the agents they start are killed by the caller.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.netns import Site
from kdfm_agent.daemon import DaemonSettings, Health, health
from roles.rolekit import SITE_PYTHON, PlaybookResult, run_playbook

SiteFactory = Callable[[int], tuple[Site, ...]]


def host_vars(site: Site, work: Path, **extra: Any) -> dict[str, Any]:
    """A site's host variables: how to reach it over SSH and where the role installs."""
    return {
        "ansible_host": site.address, "ansible_port": site.port, "ansible_user": site.user,
        "ansible_ssh_private_key_file": str(site.key_path),
        "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
                                   " -o IdentitiesOnly=yes",
        "ansible_python_interpreter": SITE_PYTHON,
        # Host variables, not extra vars (those would override a site's own value).
        "dca_agent_python": SITE_PYTHON,
        "dca_agent_prefix": str(work / f"kdfm-{site.name}" / "prefix"),
        "dca_agent_state_dir": str(work / f"kdfm-{site.name}" / "state"),
        **extra,
    }


class Rollout:
    """An inventory of netns sites (in the given order) and the deploy playbook."""

    def __init__(self, work: Path, common: Mapping[str, Any]) -> None:
        self.work = work
        self.inventory = work / "inventory" / "hosts.yml"
        self.inventory.parent.mkdir(parents=True, exist_ok=True)
        self.common = dict(common)
        self.hosts: dict[str, dict[str, Any]] = {}

    def add(self, site: Site, **extra: Any) -> None:
        self.hosts[site.name] = host_vars(site, self.work, **extra)

    def prefix(self, name: str) -> Path:
        return Path(self.hosts[name]["dca_agent_prefix"])

    def state_dir(self, name: str) -> Path:
        return Path(self.hosts[name]["dca_agent_state_dir"])

    def deploy(self, *args: str, playbook: str = "deploy_dca.yml",
               env: Mapping[str, str] | None = None, timeout: float = 1800) -> PlaybookResult:
        self.inventory.write_text(json.dumps({"dca_sites": {"hosts": self.hosts}}))
        return run_playbook(playbook, self.inventory, self.common, *args, env=env,
                            timeout=timeout)

    def state_dirs(self) -> Sequence[Path]:
        return [Path(h["dca_agent_state_dir"]) for h in self.hosts.values()]

    def running(self, name: str) -> bool:
        """Whether the agent of site `name` runs (its pid file names a live kdfm-agent)."""
        return health(DaemonSettings(state_dir=self.state_dir(name)))[0] is Health.RUNNING
