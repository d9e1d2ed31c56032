"""The agent's spool: durable, bounded, and only acknowledged readings leave it."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from kdfm_agent.spool import Spool, SpoolLimits

from ..cloud.kit import build_reading


def test_readings_stay_until_removed_oldest_first(tmp_path: Path) -> None:
    with Spool(tmp_path / "spool.db") as spool:
        spool.put([build_reading("a"), build_reading("b")])
        spool.put([build_reading("c"), build_reading("a")])  # "a" again: kept once
        assert spool.reading_ids() == ["a", "b", "c"]
        batch = spool.oldest(2)
        assert [r.reading_id for r in batch] == ["a", "b"]
        assert spool.remove(["a", "unknown"]) == 1
        assert len(spool) == 2
    with Spool(tmp_path / "spool.db") as reopened:
        assert reopened.reading_ids() == ["b", "c"]


def test_the_body_survives_unchanged(tmp_path: Path) -> None:
    reading = build_reading("body")
    with Spool(tmp_path / "spool.db") as spool:
        spool.put([reading])
        assert spool.oldest(1) == [reading]


def test_a_full_spool_drops_the_oldest_and_says_so(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="kdfm_agent.spool"), \
            Spool(tmp_path / "spool.db", SpoolLimits(max_readings=5)) as spool:
        spool.put([build_reading(f"r{i}") for i in range(4)])
        assert caplog.records == []
        spool.put([build_reading(f"r{i}") for i in range(4, 8)])
        assert spool.reading_ids() == ["r3", "r4", "r5", "r6", "r7"]
    [record] = caplog.records
    assert "dropped the 3 oldest readings (r0 .. r2)" in record.getMessage()


def test_the_spool_is_bounded_in_bytes(tmp_path: Path) -> None:
    size = len(build_reading("r00").SerializeToString())
    with Spool(tmp_path / "spool.db", SpoolLimits(max_bytes=size * 3 + 1)) as spool:
        for i in range(10):
            spool.put([build_reading(f"r{i:02d}")])
        assert spool.reading_ids() == ["r07", "r08", "r09"]


WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from kdfm_agent.spool import Spool
    from kdfm_proto.v1 import reading_pb2
    with Spool(Path(sys.argv[1])) as spool:
        i = 0
        while True:
            batch = []
            for _ in range(5):
                r = reading_pb2.Reading(reading_id=f"k-{i}", target="10.0.0.1")
                r.collected_at.GetCurrentTime()
                batch.append(r)
                i += 1
            spool.put(batch)
            # Only after put() returned is the batch promised to be on disk.
            print(" ".join(r.reading_id for r in batch), flush=True)
            if i % 50 == 0:
                # Announced before: a kill can land between the delete and any later print.
                print(f"removing k-{i - 50}", flush=True)
                spool.remove([f"k-{i - 50}"])
""")


def test_survives_kill_9_mid_write(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(path)],
                               stdout=subprocess.PIPE, text=True)
    committed: list[str] = []
    removed: set[str] = set()

    def note(line: str) -> None:
        if line.startswith("removing "):
            removed.add(line.split()[1])
        else:
            committed.extend(line.split())

    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 120
        while len(committed) < 400 and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            note(line)
        # Mid-write: the writer is busy in its loop when the signal lands.
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
        # What it printed before dying is a promise too.
        for line in process.stdout.read().splitlines():
            note(line)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    assert len(committed) >= 400

    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with Spool(path) as spool:
        ids = spool.reading_ids()
    assert len(ids) == len(set(ids))
    missing = set(committed) - removed - set(ids)
    assert missing == set()
