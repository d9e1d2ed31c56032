"""Network-namespace sites: each runs its own sshd that accepts only the throwaway key."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest
from harness.netns import Site

pytestmark = pytest.mark.sites


def test_sshd_in_a_namespace_runs_a_command(sites: Callable[[int], tuple[Site, ...]]) -> None:
    created = sites(2)
    assert len({s.address for s in created}) == 2
    for site in created:
        result = site.ssh("hostname && ip -4 -o addr show")
        assert result.returncode == 0, result.stderr
        hostname, addresses = result.stdout.split("\n", 1)
        assert hostname == site.name
        assert f"inet {site.address}/24" in addresses


def test_login_without_the_key_is_refused(sites: Callable[[int], tuple[Site, ...]]) -> None:
    (site,) = sites(1)
    argv = site.ssh_argv("true")
    without_key = [a for a in argv if a not in {"-i", str(site.key_path)}]
    without_key[1:1] = ["-o", "PreferredAuthentications=password,keyboard-interactive"]
    result = subprocess.run(without_key, capture_output=True, text=True, timeout=60)
    assert result.returncode == 255
    assert "Permission denied" in result.stderr


def test_namespaces_are_removed_afterwards(sites: Callable[[int], tuple[Site, ...]]) -> None:
    (site,) = sites(1)
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert site.netns in listed
    # Removal itself is checked by the teardown, which raises if anything is left behind.
