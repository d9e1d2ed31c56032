"""The agent's local spool: every reading lands here first and leaves only when the gateway
acknowledged it (or rejected it for good).

SQLite in WAL mode with synchronous=FULL: a `put` that returned survives kill -9 and power
loss. The spool is bounded; when full it drops the oldest readings and says so in the log,
because losing the oldest data is better than stopping collection.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from kdfm_proto.v1 import reading_pb2

log = logging.getLogger(__name__)


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction, taken at once: committed when the block ends, else rolled back.

    Rolled back on any BaseException too (a cancelled task must not leave it open).
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    reading_id TEXT NOT NULL UNIQUE,
    body BLOB NOT NULL,
    size INTEGER NOT NULL
)
"""


@dataclass(frozen=True, slots=True)
class SpoolLimits:
    """How much the spool keeps before it drops the oldest readings."""

    max_readings: int = 100_000
    """Most readings kept; above it the oldest are dropped (and logged)."""
    max_bytes: int = 256 * 1024 * 1024
    """Most bytes of serialized readings kept; above it the oldest are dropped (and logged)."""


class Spool:
    """`with Spool(path) as spool:` — put, take a batch, acknowledge."""

    def __init__(self, path: Path, limits: SpoolLimits | None = None) -> None:
        self._path = path
        self._limits = limits or SpoolLimits()
        self._db: sqlite3.Connection | None = None

    def __enter__(self) -> Spool:
        self.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def open(self) -> None:
        """Open (creating) the spool file."""
        self._path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE ... COMMIT).
        db = sqlite3.connect(self._path, isolation_level=None, timeout=30,
                             check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute(_SCHEMA)
        self._db = db

    def close(self) -> None:
        """Close the spool file; everything put is already on disk."""
        if self._db is not None:
            self._db.close()
            self._db = None

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError(f"spool {self._path} is not open (use `with Spool(...)`)")
        return self._db

    @property
    def connection(self) -> sqlite3.Connection:
        """The open SQLite connection, for state that must commit together with readings."""
        return self._conn

    def put(self, readings: Sequence[reading_pb2.Reading],
            also: Callable[[sqlite3.Connection], None] | None = None) -> None:
        """Keep readings durably (one transaction); a reading id already spooled is kept once.

        `also` writes more rows in the same transaction (the counters the readings advanced),
        so both are kept or neither is.
        """
        rows = [(r.reading_id, r.SerializeToString(deterministic=True)) for r in readings]
        with transaction(self._conn) as db:
            db.executemany("INSERT OR IGNORE INTO spool (reading_id, body, size) "
                           "VALUES (?, ?, length(?))", [(i, b, b) for i, b in rows])
            if also is not None:
                also(db)
            self._enforce_limits(db)

    def _enforce_limits(self, db: sqlite3.Connection) -> None:
        count, size = db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM spool").fetchone()
        limits = self._limits
        if count <= limits.max_readings and size <= limits.max_bytes:
            return
        dropped, dropped_bytes, first_id, last_id = 0, 0, "", ""
        for _seq, reading_id, row_size in db.execute(
                "SELECT seq, reading_id, size FROM spool ORDER BY seq").fetchall():
            if count - dropped <= limits.max_readings and size - dropped_bytes <= limits.max_bytes:
                break
            dropped += 1
            dropped_bytes += row_size
            first_id = first_id or reading_id
            last_id = reading_id
        db.execute("DELETE FROM spool WHERE seq IN (SELECT seq FROM spool ORDER BY seq LIMIT ?)",
                   (dropped,))
        log.warning("spool %s is full (%d readings, %d bytes; limits %d readings, %d bytes): "
                    "dropped the %d oldest readings (%s .. %s)", self._path, count, size,
                    limits.max_readings, limits.max_bytes, dropped, first_id, last_id)

    def oldest(self, limit: int) -> list[reading_pb2.Reading]:
        """Up to `limit` spooled readings, oldest first; they stay until acknowledged."""
        rows = self._conn.execute("SELECT body FROM spool ORDER BY seq LIMIT ?",
                                  (limit,)).fetchall()
        return [reading_pb2.Reading.FromString(body) for (body,) in rows]

    def remove(self, reading_ids: Iterable[str]) -> int:
        """Forget readings the gateway acknowledged (or rejected for good); answers how many."""
        ids = [(i,) for i in reading_ids]
        if not ids:
            return 0
        db = self._conn
        before = db.total_changes
        with transaction(db):
            db.executemany("DELETE FROM spool WHERE reading_id = ?", ids)
        return db.total_changes - before

    def __len__(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM spool").fetchone()[0])

    def reading_ids(self) -> list[str]:
        """Every spooled reading id, oldest first."""
        return [i for (i,) in self._conn.execute("SELECT reading_id FROM spool ORDER BY seq")]
