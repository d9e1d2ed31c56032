"""The rollout over real SSH against network-namespace sites (tests/harness/netns.py), with a
pre-issued identity and no cloud: batches, idempotence, and the stops at a lost or failing site.

The sites share this machine's filesystem, so each gets its own install prefix and state
directory; the agents they start are killed after the test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from roles.netns_rollout import Rollout, SiteFactory
from roles.rolekit import Wheelhouses, stop_agents

pytestmark = [pytest.mark.sites, pytest.mark.slow]


@pytest.fixture
def rollout(tmp_path: Path, wheelhouses: Wheelhouses,
            identity: dict[str, str]) -> Iterator[Rollout]:
    plan = Rollout(tmp_path, {
        "dca_agent_wheelhouse_dir": str(wheelhouses.root), "dca_agent_version": wheelhouses.base,
        "dca_agent_identity": identity,
        # The site's own loopback, where nothing listens: the agent retries.
        "dca_agent_gateway": "127.0.0.1:9", "dca_agent_snmp_targets": ["127.0.0.1:16100"]})
    try:
        yield plan
    finally:
        stop_agents(plan.state_dirs())


def test_sites_install_in_batches_and_rerun_changes_nothing(
        sites: SiteFactory, rollout: Rollout, wheelhouses: Wheelhouses) -> None:
    fleet = sites(3)
    for site in fleet:
        rollout.add(site)
    first = rollout.deploy()
    assert first.returncode == 0, first.output[-6000:]
    # serial [1, 10%, 100%] over 3 sites: three plays of one site each, in inventory order.
    assert first.output.count("PLAY [Deploy the KDFM data collection agent]") == 3
    for site in fleet:
        assert first.recap[site.name].changed > 0
        assert os.readlink(rollout.prefix(site.name) / "current") == \
            f"versions/{wheelhouses.base}"
        assert rollout.running(site.name), f"no agent runs for {site.name}"
    second = rollout.deploy()
    assert second.returncode == 0, second.output[-6000:]
    assert all(second.recap[site.name].changed == 0 for site in fleet), second.output[-4000:]


def test_unreachable_site_stops_the_rollout_before_the_next_batch(
        sites: SiteFactory, rollout: Rollout) -> None:
    good, lost, later_a, later_b = sites(4)
    rollout.add(good)
    # sshd listens on 22 only: port 2 refuses at once, which Ansible reports as unreachable.
    rollout.add(lost, ansible_port=2)
    rollout.add(later_a)
    rollout.add(later_b)
    result = rollout.deploy()
    assert result.returncode != 0
    assert f"{lost.name} is unreachable: the rollout stops here" in result.output
    assert rollout.running(good.name)
    for untouched in (later_a, later_b):
        assert untouched.name not in result.recap or result.recap[untouched.name].ok == 0
        assert not rollout.prefix(untouched.name).exists(), f"{untouched.name} was touched"


def test_failing_site_stops_the_rollout_before_the_next_batch(
        sites: SiteFactory, rollout: Rollout) -> None:
    failing, later_a, later_b = sites(3)
    rollout.add(failing, dca_agent_python="/nonexistent/python3.11")
    rollout.add(later_a)
    rollout.add(later_b)
    result = rollout.deploy()
    assert result.returncode != 0
    assert result.recap[failing.name].failed == 1
    assert "/nonexistent/python3.11" in result.output
    for untouched in (later_a, later_b):
        assert not rollout.prefix(untouched.name).exists(), f"{untouched.name} was touched"
