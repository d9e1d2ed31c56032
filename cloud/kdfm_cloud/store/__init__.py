"""Storage of the cloud side behind one interface (`Repository`), on SQLite or PostgreSQL."""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

from kdfm_cloud.errors import StoreError
from kdfm_cloud.store.engines import create_engine, is_postgres, sqlite_url
from kdfm_cloud.store.repository import (
    AgentKey,
    AlertRow,
    DeviceRow,
    ReadingRow,
    Repository,
    StoreOutcome,
    SupplyRow,
    TaskLease,
    TaskRow,
)
from kdfm_cloud.store.sql import SqlRepository

__all__ = [
    "AgentKey", "AlertRow", "DeviceRow", "ReadingRow", "Repository", "SqlRepository",
    "StoreOutcome", "SupplyRow", "TaskLease", "TaskRow", "is_postgres", "open_repository",
    "sqlite_url",
]


def open_repository(url: str, *, migrate: bool = True) -> SqlRepository:
    """The repository at a database URL (sqlite:///PATH or postgresql://...), migrated."""
    repository = SqlRepository(create_engine(url))
    if migrate:
        try:
            repository.migrate()
        except sa_exc.OperationalError as err:
            repository.close()
            # str(err.orig): the driver's reason, without SQLAlchemy's echo of the URL/password.
            raise StoreError(f"cannot open the database: {err.orig}") from err
    return repository
