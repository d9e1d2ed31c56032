"""PostgreSQL: a fresh database per test that stores and returns rows."""

from __future__ import annotations

import psycopg
import pytest
from harness.postgres import PostgresCluster

pytestmark = pytest.mark.postgres


def test_database_stores_and_returns_a_row(postgres_dsn: str) -> None:
    with psycopg.connect(postgres_dsn) as conn:
        conn.execute("CREATE TABLE printer (serial text PRIMARY KEY, pages bigint NOT NULL)")
        conn.execute("INSERT INTO printer VALUES (%s, %s)", ("VNB3K12345", 123_456))
        conn.commit()
    with psycopg.connect(postgres_dsn) as conn:
        rows = conn.execute("SELECT serial, pages FROM printer").fetchall()
    assert rows == [("VNB3K12345", 123_456)]


def test_each_test_gets_an_empty_database(postgres_dsn: str, postgres: PostgresCluster) -> None:
    with psycopg.connect(postgres_dsn) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
        name = conn.info.dbname
    assert tables == (0,)
    assert name != "postgres"
    assert postgres.host == "127.0.0.1"
