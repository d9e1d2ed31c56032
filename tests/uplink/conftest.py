"""Fixtures of the uplink tests (agent <-> cloud)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kdfm_cloud.store import SqlRepository, open_repository, sqlite_url

from ..cloud.kit import Pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A throwaway CA, the gateway's certificate and agent certificates on demand."""
    return Pki(tmp_path_factory.mktemp("uplink-pki"))


@pytest.fixture
def sqlite_repository(tmp_path: Path) -> Iterator[SqlRepository]:
    """A migrated SQLite repository, for tests about the agent rather than the store."""
    repo = open_repository(sqlite_url(tmp_path / "cloud.db"))
    try:
        yield repo
    finally:
        repo.close()
