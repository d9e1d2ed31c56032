"""Open an SQLAlchemy engine for a database URL: SQLite (the embedded default) or PostgreSQL.

SQLite runs in WAL mode and takes the write lock at BEGIN (IMMEDIATE), so concurrent writers
queue on busy_timeout instead of failing half-way through a transaction.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa

from kdfm_cloud.errors import ConfigError

_SQLITE_BUSY_MS = 30_000


def is_postgres(url: str) -> bool:
    """True for postgresql:// (or postgres://) URLs and libpq key=value strings."""
    return url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")) or (
        "=" in url and "://" not in url
    )


def sqlite_url(path: Path) -> str:
    """The database URL of an SQLite file."""
    return f"sqlite:///{path}"


def create_engine(url: str) -> sa.Engine:
    """An engine for `url`; raises ConfigError naming the URL when the scheme is unknown."""
    if url.startswith("sqlite:///"):
        return _sqlite_engine(url)
    if is_postgres(url):
        return _postgres_engine(url)
    raise ConfigError(f"database URL {url!r} is neither sqlite:///PATH nor postgresql://...")


def _sqlite_engine(url: str) -> sa.Engine:
    path = Path(url.removeprefix("sqlite:///"))
    if str(path) not in ("", ":memory:"):
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": _SQLITE_BUSY_MS / 1000})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed upload survives a power cut, not only a process crash.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_MS}")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _postgres_engine(url: str) -> sa.Engine:
    conninfo = url.replace("postgresql+psycopg://", "postgresql://", 1)

    def _connect() -> psycopg.Connection[Any]:
        return psycopg.connect(conninfo)

    return sa.create_engine("postgresql+psycopg://", creator=_connect, pool_pre_ping=True)
