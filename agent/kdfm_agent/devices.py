"""What the agent remembers about each device between polls and across restarts.

Three things, in tables of the spool's SQLite file:
    counters     the last counters of each device (by serial, else MAC, else target), so that
                 `counters.carry_over` can add 32-bit wraps back and flag decreases; written in
                 the same transaction that spools the reading, so a crash can neither lose a
                 wrap nor count one twice
    access       which credential answered a target last (tried first next time) and when a
                 fallback SNMP context last failed to answer it (skipped until a retry is due)
    discovery    the printers the last discovery found in the target ranges, and when it ran
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from kdfm_agent import counters as page_counters
from kdfm_agent import model
from kdfm_agent.spool import transaction

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS device_counters (
        device_key TEXT NOT NULL,
        source TEXT NOT NULL,
        name TEXT NOT NULL,
        unit TEXT NOT NULL,
        value INTEGER NOT NULL,
        PRIMARY KEY (device_key, source)
    )""",
    """CREATE TABLE IF NOT EXISTS device_access (
        target TEXT PRIMARY KEY,
        credential TEXT,
        context TEXT,
        context_failed_at REAL
    )""",
    """CREATE TABLE IF NOT EXISTS discovered (
        target TEXT PRIMARY KEY,
        found_at REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS discovery_runs (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        specs TEXT NOT NULL,
        finished_at REAL NOT NULL
    )""",
)


def device_key(reading: model.Reading) -> str:
    """Who the reading is of: its serial number, else its MAC address, else its target."""
    identity = reading.identity
    if identity.serial_number:
        return f"serial:{identity.serial_number.strip()}"
    if identity.mac_address:
        return f"mac:{identity.mac_address}"
    return f"target:{reading.target}"


@dataclass(frozen=True, slots=True)
class Discovery:
    """The outcome of the last discovery: which specs it covered, what it found and when."""

    specs: tuple[str, ...]
    targets: tuple[str, ...]
    finished_at: float


class DeviceMemory:
    """Per-device memory on an open SQLite connection (the spool's); all methods are quick."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        for statement in _SCHEMA:
            db.execute(statement)

    # -- counters ---------------------------------------------------------------------------

    def counters(self, key: str) -> tuple[model.Counter, ...]:
        """The counters last remembered for the device `key`."""
        rows = self._db.execute(
            "SELECT name, value, unit, source FROM device_counters WHERE device_key = ? "
            "ORDER BY source", (key,)).fetchall()
        return tuple(model.Counter(name=n, value=v, unit=u, source=s) for n, v, u, s in rows)

    def carry_over(self, reading: model.Reading) -> model.Reading:
        """The reading with wraps added back and decreases appended to its errors."""
        if not reading.counters:
            return reading
        previous = self.counters(device_key(reading))
        counters, findings = page_counters.carry_over(previous, reading.counters)
        return replace(reading, counters=counters, errors=(*reading.errors, *findings))

    def remember_counters(self, db: sqlite3.Connection,
                          readings: Iterable[model.Reading]) -> None:
        """Store each reading's counters (inside the caller's transaction on `db`).

        A counter a reading lacks keeps its last value: a device that failed one poll half-way
        must not lose the base its next wrap is measured from.
        """
        db.executemany(
            "INSERT INTO device_counters (device_key, source, name, unit, value) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (device_key, source) DO UPDATE SET "
            "name = excluded.name, unit = excluded.unit, value = excluded.value",
            [(device_key(r), c.source, c.name, c.unit, c.value)
             for r in readings for c in r.counters])

    # -- credentials and contexts --------------------------------------------------------------

    def credential(self, target: str) -> str | None:
        """Label of the credential that answered `target` last."""
        row = self._db.execute("SELECT credential FROM device_access WHERE target = ?",
                               (target,)).fetchone()
        return None if row is None else row[0]

    def remember_credential(self, target: str, label: str) -> None:
        """`label` answered `target`: try it first next time."""
        self._write("INSERT INTO device_access (target, credential) VALUES (?, ?) "
                    "ON CONFLICT (target) DO UPDATE SET credential = excluded.credential",
                    (target, label))

    def context_failed_at(self, target: str) -> float | None:
        """When (epoch seconds) the fallback context last failed to answer `target`."""
        row = self._db.execute("SELECT context_failed_at FROM device_access WHERE target = ?",
                               (target,)).fetchone()
        return None if row is None else row[0]

    def remember_context(self, target: str, context: str, failed_at: float | None) -> None:
        """The fallback `context` of `target` failed at `failed_at` (None: it answered)."""
        self._write("INSERT INTO device_access (target, context, context_failed_at) "
                    "VALUES (?, ?, ?) ON CONFLICT (target) DO UPDATE SET "
                    "context = excluded.context, context_failed_at = excluded.context_failed_at",
                    (target, context, failed_at))

    # -- discovery ---------------------------------------------------------------------------

    def discovery(self) -> Discovery | None:
        """The last discovery, or None when none ran yet."""
        row = self._db.execute("SELECT specs, finished_at FROM discovery_runs").fetchone()
        if row is None:
            return None
        targets = tuple(t for (t,) in self._db.execute(
            "SELECT target FROM discovered ORDER BY rowid"))
        specs = tuple(s for s in row[0].split("\n") if s)
        return Discovery(specs=specs, targets=targets, finished_at=row[1])

    def remember_discovery(self, specs: Sequence[str], targets: Sequence[str],
                           finished_at: float) -> None:
        """Replace the discovered printers with `targets` (one transaction)."""
        with transaction(self._db) as db:
            db.execute("DELETE FROM discovered")
            db.executemany("INSERT OR IGNORE INTO discovered (target, found_at) VALUES (?, ?)",
                           [(t, finished_at) for t in targets])
            db.execute("INSERT INTO discovery_runs (id, specs, finished_at) VALUES (1, ?, ?) "
                       "ON CONFLICT (id) DO UPDATE SET specs = excluded.specs, "
                       "finished_at = excluded.finished_at", ("\n".join(specs), finished_at))

    def _write(self, statement: str, parameters: tuple[object, ...]) -> None:
        with transaction(self._db) as db:
            db.execute(statement, parameters)


def now() -> float:
    """Epoch seconds, the unit every time in this memory is kept in."""
    return datetime.now(UTC).timestamp()
