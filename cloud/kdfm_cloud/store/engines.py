"""Open an SQLAlchemy engine for a database URL: SQLite (the embedded default) or PostgreSQL.

SQLite runs in WAL mode and takes the write lock at BEGIN (IMMEDIATE), so concurrent writers
queue instead of failing half-way through a transaction. Writers queue on a lock of our own
first: SQLite's own busy handler sleeps in steps of up to 100 ms and keeps missing the moment
the database is free (a gateway storing two uploads at a time in threads took 2.1 s instead of
0.65 s for 2000 readings). The lock is a thread lock of the process plus an flock() on a file
beside the database, so the worker processes of one gateway (and the CLI) take turns too.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa

from kdfm_cloud.errors import ConfigError

_SQLITE_BUSY_MS = 30_000
_LOCK_SUFFIX = ".kdfm-writer"
"""The writer lock file beside an SQLite database (SQLite's own use -wal, -shm, -journal)."""
_writer_locks: dict[str, _WriterLock] = {}
_writer_locks_guard = threading.Lock()


class _WriterLock:
    """Writers of one database file, one at a time: threads of this process, then processes.

    The thread lock queues the transactions of this process; the flock() on the lock file
    queues processes (the kernel drops it when a process dies, so a killed writer never
    leaves the database locked). flock() cannot wait with a timeout, so another process's
    turn is polled in short steps (0.1 ms growing to 0.5 ms): far closer to the moment the
    database is free than SQLite's busy handler.
    """

    def __init__(self, path: Path) -> None:
        self._thread = threading.Lock()
        self._path = path.with_name(path.name + _LOCK_SUFFIX)
        self._fd: int | None = None

    def acquire(self, timeout: float) -> None:
        """Hold the database for writing; sqlite3.OperationalError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        if not self._thread.acquire(timeout=timeout):
            raise sqlite3.OperationalError(
                f"database is locked: another transaction of this process held it for "
                f"{timeout:g} s")
        try:
            if self._fd is None:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            pause = 0.0001
            while True:
                try:
                    fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise sqlite3.OperationalError(
                            f"database is locked: another process held {self._path} for "
                            f"{timeout:g} s") from None
                    time.sleep(pause)
                    pause = min(pause * 2, 0.0005)
        except BaseException:
            self._thread.release()
            raise

    def release(self) -> None:
        """Let the next writer in."""
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread.release()


def _writer_lock(path: str) -> _WriterLock | None:
    """The one writer lock of this process for the database file at `path`.

    None for an in-memory database: each connection has one of its own.
    """
    if path in ("", ":memory:"):
        return None
    resolved = Path(path).resolve()
    with _writer_locks_guard:
        return _writer_locks.setdefault(str(resolved), _WriterLock(resolved))


class _SqliteConnection(sqlite3.Connection):
    """A connection that holds its database's writer lock from BEGIN until the transaction ends."""

    writer_lock: _WriterLock | None = None
    _holding = False

    def begin_immediate(self) -> None:
        """BEGIN IMMEDIATE once no other transaction (of any process) holds the database."""
        lock = self.writer_lock
        if lock is not None:
            lock.acquire(_SQLITE_BUSY_MS / 1000)
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


_READ_ONLY = "kdfm_read_only"


def read(engine: sa.Engine) -> sa.Connection:
    """A connection for reading only: on SQLite its transactions take no writer lock.

    `with read(engine) as conn:` where a block only reads. Writes belong in
    `engine.begin()`, which holds the database from BEGIN on (see _SqliteConnection); a write
    on this connection could fail with "database is locked" instead of queueing. Readers never
    wait for writers in WAL mode, so a check such as the gateway's revocation lookup on every
    call does not queue behind the upload being stored.
    """
    return engine.connect().execution_options(**{_READ_ONLY: True})


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
        if connection.get_execution_options().get(_READ_ONLY):
            dbapi_connection.execute("BEGIN")  # deferred: a snapshot to read, no lock
        else:
            dbapi_connection.begin_immediate()

    return engine


def _postgres_engine(url: str) -> sa.Engine:
    conninfo = url.replace("postgresql+psycopg://", "postgresql://", 1)

    def _connect() -> psycopg.Connection[Any]:
        return psycopg.connect(conninfo)

    return sa.create_engine("postgresql+psycopg://", creator=_connect, pool_pre_ping=True)
