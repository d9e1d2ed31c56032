"""SQLite writers take turns across processes on our lock file; readers never wait for them."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from kdfm_cloud.store import engines, sqlite_url
from kdfm_cloud.store.engines import create_engine

TABLE = sa.Table("t", sa.MetaData(), sa.Column("n", sa.Integer))

# A writer in another process: inserts a row in a transaction, says so, and commits when told
# (or is killed before).
_WRITER = """
import sys
import sqlalchemy as sa
from kdfm_cloud.store.engines import create_engine
table = sa.Table("t", sa.MetaData(), sa.Column("n", sa.Integer))
engine = create_engine(sys.argv[1])
with engine.begin() as conn:
    conn.execute(table.insert().values(n=1))
    print("holding", flush=True)
    sys.stdin.readline()
print("committed", flush=True)
"""


@pytest.fixture
def database(tmp_path: Path) -> Iterator[tuple[str, Path, sa.Engine]]:
    """A database with table t, its lock file and an engine on it."""
    path = tmp_path / "locks.db"
    engine = create_engine(sqlite_url(path))
    with engine.begin() as conn:
        TABLE.create(conn)
    try:
        yield sqlite_url(path), path.with_name(path.name + ".kdfm-writer"), engine
    finally:
        engine.dispose()


@contextmanager
def writer_process(url: str) -> Iterator[subprocess.Popen[str]]:
    """The other process, inside its transaction."""
    process = subprocess.Popen([sys.executable, "-c", _WRITER, url], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "holding"
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=60)


def lock_is_free(lock_file: Path) -> bool:
    fd = os.open(lock_file, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def count(conn: sa.Connection) -> int:
    return int(conn.scalar(sa.select(sa.func.count()).select_from(TABLE)) or 0)


def test_a_writer_waits_for_the_transaction_of_another_process(
        database: tuple[str, Path, sa.Engine]) -> None:
    url, lock_file, engine = database
    with writer_process(url) as other:
        assert not lock_is_free(lock_file)
        seen: list[int] = []

        def write() -> None:
            with engine.begin() as conn:
                seen.append(count(conn))  # only once the other process has committed
                conn.execute(TABLE.insert().values(n=2))

        thread = threading.Thread(target=write)
        thread.start()
        assert other.stdin is not None and other.stdout is not None
        other.stdin.write("\n")
        other.stdin.flush()
        assert other.stdout.readline().strip() == "committed"
        thread.join(timeout=60)
    assert not thread.is_alive()
    assert seen == [1]
    with engine.connect() as conn:
        assert sorted(conn.scalars(sa.select(TABLE.c.n))) == [1, 2]
    assert lock_is_free(lock_file)


def test_a_writer_that_waits_too_long_is_told_which_lock(
        database: tuple[str, Path, sa.Engine]) -> None:
    url, lock_file, _engine = database
    lock = engines._writer_lock(str(lock_file.with_name("locks.db")))
    assert lock is not None
    with writer_process(url), pytest.raises(sqlite3.OperationalError) as refused:
        lock.acquire(timeout=0.3)
    assert str(refused.value) == (f"database is locked: another process held {lock_file} "
                                  "for 0.3 s")


def test_a_writer_killed_mid_transaction_leaves_the_database_free(
        database: tuple[str, Path, sa.Engine]) -> None:
    url, lock_file, engine = database
    with writer_process(url) as other:
        other.kill()
        other.wait(timeout=60)
    assert lock_is_free(lock_file)
    with engine.begin() as conn:
        assert count(conn) == 0  # its transaction was never committed
        conn.execute(TABLE.insert().values(n=2))
    with engines.read(engine) as conn:
        assert count(conn) == 1


def test_readers_do_not_wait_for_a_writer(database: tuple[str, Path, sa.Engine]) -> None:
    # In one thread: a reader that took the writer lock would wait for this very transaction
    # (30 s, then "database is locked").
    _url, _lock_file, engine = database
    with engine.begin() as writer:
        writer.execute(TABLE.insert().values(n=1))
        with engines.read(engine) as reader:
            assert count(reader) == 0  # the snapshot before the open transaction
        assert count(writer) == 1
    with engines.read(engine) as reader:
        assert count(reader) == 1
