"""Open an SQLAlchemy engine for a database URL: SQLite (the embedded default) or PostgreSQL.

SQLite runs in WAL mode and takes the write lock at BEGIN (IMMEDIATE), so concurrent writers
queue instead of failing half-way through a transaction. Transactions of one process queue on a
lock of that process first: SQLite's own busy handler sleeps in steps of up to 100 ms and keeps
missing the moment the database is free (a gateway storing two uploads at a time in threads
took 2.1 s instead of 0.65 s for 2000 readings). Other processes still queue on busy_timeout.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa

from kdfm_cloud.errors import ConfigError

_SQLITE_BUSY_MS = 30_000
_writer_locks: dict[str, threading.Lock] = {}
_writer_locks_guard = threading.Lock()


def _writer_lock(path: str) -> threading.Lock | None:
    """The one lock of this process for writers of the database file at `path`.

    None for an in-memory database: each connection has one of its own.
    """
    if path in ("", ":memory:"):
        return None
    with _writer_locks_guard:
        return _writer_locks.setdefault(str(Path(path).resolve()), threading.Lock())


class _SqliteConnection(sqlite3.Connection):
    """A connection that holds its database's writer lock from BEGIN until the transaction ends."""

    writer_lock: threading.Lock | None = None
    _holding = False

    def begin_immediate(self) -> None:
        """BEGIN IMMEDIATE once no other transaction of this process holds the database."""
        lock = self.writer_lock
        if lock is not None:
            if not lock.acquire(timeout=_SQLITE_BUSY_MS / 1000):
                raise sqlite3.OperationalError(
                    f"database is locked: another transaction of this process held it for "
                    f"{_SQLITE_BUSY_MS // 1000} s")
            self._holding = True
        try:
            self.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._release()
            raise

    def _release(self) -> None:
        # A failed COMMIT can leave the transaction open; the lock goes with its ROLLBACK.
        if self._holding and not self.in_transaction and self.writer_lock is not None:
            self._holding = False
            self.writer_lock.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._release()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._release()

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._holding and self.writer_lock is not None:
                self._holding = False
                self.writer_lock.release()


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
    lock = _writer_lock(str(path))
    engine = sa.create_engine(url, connect_args={"timeout": _SQLITE_BUSY_MS / 1000,
                                                 "factory": _SqliteConnection})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: _SqliteConnection, _record: Any) -> None:
        dbapi_connection.writer_lock = lock
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
        dbapi_connection = connection.connection.driver_connection
        assert isinstance(dbapi_connection, _SqliteConnection)
        dbapi_connection.begin_immediate()

    return engine


def _postgres_engine(url: str) -> sa.Engine:
    conninfo = url.replace("postgresql+psycopg://", "postgresql://", 1)

    def _connect() -> psycopg.Connection[Any]:
        return psycopg.connect(conninfo)

    return sa.create_engine("postgresql+psycopg://", creator=_connect, pool_pre_ping=True)
