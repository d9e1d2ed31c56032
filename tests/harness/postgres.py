"""A throwaway PostgreSQL cluster: initdb in a temp dir, loopback TCP port, trust auth.

PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres` system
account (created by Debian's postgresql package) and the directory is chowned to it.
Durability is switched off (fsync, synchronous_commit, full_page_writes): the data dies with
the test run anyway, and this keeps a loaded 2-core machine fast.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from kdfm_cloud.devstack.errors import StartupError
from kdfm_cloud.devstack.processes import free_port, start_process, wait_until
from psycopg import sql

PG_LIB = Path("/usr/lib/postgresql")
SERVICE_USER = "postgres"
STARTUP_TIMEOUT = 90.0
"""Seconds to wait until the server accepts connections."""


@dataclass(frozen=True)
class PostgresCluster:
    """A running cluster: connect as superuser `user` over TCP on `host:port`."""

    host: str
    port: int
    user: str
    socket_dir: Path

    @property
    def dsn(self) -> str:
        """libpq connection string of the maintenance database `postgres`."""
        return self.dsn_for("postgres")

    def dsn_for(self, dbname: str) -> str:
        """libpq connection string of database `dbname` in this cluster."""
        return f"host={self.host} port={self.port} user={self.user} dbname={dbname}"

    def create_database(self, prefix: str = "kdfm_test") -> str:
        """Create an empty database with a unique name and return that name."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return name

    def drop_database(self, name: str) -> None:
        """Drop database `name`, disconnecting whoever is still connected."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                         .format(sql.Identifier(name)))


def pg_bin_dir() -> Path:
    """bin/ of the newest PostgreSQL under /usr/lib/postgresql/<major>/."""
    versions = sorted((p for p in PG_LIB.glob("*/bin") if (p / "initdb").exists()),
                      key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    if not versions:
        raise FileNotFoundError(f"no PostgreSQL server under {PG_LIB}; `make debs` installs it")
    return versions[-1]


def _run_as() -> str | None:
    # Only root has to (and can) switch accounts.
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError as err:
        raise StartupError(f"running as root but there is no {SERVICE_USER!r} account to run "
                           "PostgreSQL as; install Debian's postgresql package") from err
    return SERVICE_USER


def _chown_tree(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in (*dirs, *files):
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)


def _accepts(host: str, port: int, user: str) -> bool:
    try:
        with psycopg.connect(host=host, port=port, user=user, dbname="postgres",
                             connect_timeout=2) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return False
    return True


@contextmanager
def running_cluster(*, host: str = "127.0.0.1", port: int = 0) -> Iterator[PostgresCluster]:
    """A fresh cluster for the duration of the block; its directory is removed afterwards."""
    bin_dir = pg_bin_dir()
    run_as = _run_as()
    tmp = Path(tempfile.mkdtemp(prefix="kdfm-pg-"))
    try:
        data_dir, socket_dir = tmp / "data", tmp / "run"
        socket_dir.mkdir()
        if run_as:
            _chown_tree(tmp, run_as)
        initdb = subprocess.run(
            [str(bin_dir / "initdb"), "-D", str(data_dir), "-U", "postgres", "--auth=trust",
             "--encoding=UTF8", "--locale=C", "--no-sync"],
            capture_output=True, text=True, user=run_as, timeout=180,
        )
        if initdb.returncode != 0:
            raise StartupError(f"initdb failed:\n{initdb.stdout}{initdb.stderr}")
        chosen = port or free_port(host)
        process = start_process(
            "postgres",
            [str(bin_dir / "postgres"), "-D", str(data_dir), "-h", host, "-p", str(chosen),
             "-k", str(socket_dir), "-c", "fsync=off", "-c", "synchronous_commit=off",
             "-c", "full_page_writes=off", "-c", "max_connections=200"],
            log_path=tmp / "postgres.log", user=run_as,
        )
        try:
            wait_until(lambda: _accepts(host, chosen, "postgres"), timeout=STARTUP_TIMEOUT,
                       what=f"PostgreSQL on {host}:{chosen}", interval=0.2,
                       alive=process.alive, log_path=process.log_path)
            yield PostgresCluster(host=host, port=chosen, user="postgres", socket_dir=socket_dir)
        finally:
            # SIGTERM is PostgreSQL's "smart" shutdown, which waits for clients; SIGINT
            # ("fast") disconnects them, so use it and let stop() escalate if needed.
            if process.alive():
                process.popen.send_signal(signal.SIGINT)
            process.stop(timeout=30)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
