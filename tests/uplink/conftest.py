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


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database on each back end."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "cloud.db")
    return str(request.getfixturevalue("postgres_dsn"))


@pytest.fixture
def repository(database_url: str) -> Iterator[SqlRepository]:
    """A migrated repository the test reads while the gateway process writes it."""
    repo = open_repository(database_url)
    try:
        yield repo
    finally:
        repo.close()
