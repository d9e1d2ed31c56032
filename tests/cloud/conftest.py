"""Fixtures of the cloud tests: readings as the agent sends them, and a repository per back end."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kdfm_cloud.store import SqlRepository, open_repository, sqlite_url
from kdfm_proto.v1 import reading_pb2 as pb

from .kit import Pki, build_reading

MakeReading = Callable[..., pb.Reading]


@pytest.fixture
def make_reading() -> MakeReading:
    """The reading factory (see build_reading)."""
    return build_reading


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database on each back end."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "kdfm.db")
    return str(request.getfixturevalue("postgres_dsn"))


@pytest.fixture
def repository(database_url: str) -> Iterator[SqlRepository]:
    """A migrated repository on a fresh database."""
    repo = open_repository(database_url)
    try:
        yield repo
    finally:
        repo.close()


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A throwaway CA, the gateway's certificate and agent certificates on demand."""
    return Pki(tmp_path_factory.mktemp("pki"))
