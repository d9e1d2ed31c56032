"""Fixtures wrapping the real components of tests/harness and kdfm_cloud.devstack.

Each fixture starts its component on free loopback ports and stops it in a `finally` (the
context managers guarantee it). A test that uses a component's fixture gets that component's
marker automatically, so `-m "not postgres"` deselects it even if the test forgot to say so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from harness.fleet import SnmpFleet, running_fleet
from harness.netns import Site, SitesUnavailable, check_namespaces_possible, site_network
from harness.postgres import PostgresCluster, running_cluster
from harness.snmpsim import SnmpSite, default_recordings_dir, running_site
from kdfm_cloud.devstack.mosquitto import Broker, running_broker
from kdfm_cloud.devstack.openbao import OpenBaoConfig, OpenBaoServer, Vault, running_openbao
from kdfm_cloud.store import SqlRepository, open_repository, sqlite_url

FIXTURE_MARKERS = {
    "snmp_site": "snmp",
    "snmp_fleet": "snmp",
    "mosquitto": "mqtt",
    "vault": "vault",
    "openbao_server": "vault",
    "postgres": "postgres",
    "postgres_dsn": "postgres",
    "sites": "sites",
}
"""Fixture name -> the marker every test using it carries."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = getattr(item, "fixturenames", ())
        for fixture, marker in FIXTURE_MARKERS.items():
            if fixture in names and item.get_closest_marker(marker) is None:
                item.add_marker(marker)


@pytest.fixture(scope="session")
def recordings_dir() -> Path:
    """The printer recordings: $KDFM_RECORDINGS, default <repo>/../shared/printers/snmprec."""
    path: Path = default_recordings_dir()
    if not path.is_dir():
        pytest.fail(f"recordings directory {path} is missing; set KDFM_RECORDINGS")
    return path


@pytest.fixture(scope="session")
def snmp_site(recordings_dir: Path, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[SnmpSite]:
    """snmpsim serving every recording (community = file stem) plus the default v3 users."""
    with running_site(recordings_dir, work_dir=tmp_path_factory.mktemp("snmpsim")) as site:
        yield site


@pytest.fixture(scope="session")
def snmp_fleet(recordings_dir: Path, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[SnmpFleet]:
    """A realistic site: one printer per loopback address (127.77.0.1..), community `public`."""
    with running_fleet(recordings_dir, work_dir=tmp_path_factory.mktemp("snmp-fleet")) as fleet:
        yield fleet


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """Mosquitto with MQTT/TLS and WSS listeners and dynamic security; add clients per test."""
    with running_broker(work_dir=tmp_path_factory.mktemp("mosquitto")) as broker:
        yield broker


@pytest.fixture(scope="session")
def vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Vault]:
    """An OpenBao dev server with `pki` (root) and `pki_int` (intermediate) bootstrapped."""
    with running_openbao(OpenBaoConfig(dev=True),
                         work_dir=tmp_path_factory.mktemp("openbao")) as server:
        assert server.vault is not None
        yield server.vault


@pytest.fixture
def openbao_server(tmp_path: Path) -> Iterator[OpenBaoServer]:
    """A test's own OpenBao on raft storage: `stop()` then `start()` keeps its PKI and port."""
    with running_openbao(OpenBaoConfig(dev=False), work_dir=tmp_path / "openbao") as server:
        yield server


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL cluster on a loopback port with trust authentication."""
    with running_cluster() as cluster:
        yield cluster


@pytest.fixture
def postgres_dsn(postgres: PostgresCluster) -> Iterator[str]:
    """The DSN of a fresh, empty database, dropped after the test."""
    name = postgres.create_database()
    try:
        yield postgres.dsn_for(name)
    finally:
        postgres.drop_database(name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty cloud database on each back end: the same tests run on both."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "cloud.db")
    return str(request.getfixturevalue("postgres_dsn"))


@pytest.fixture
def repository(database_url: str) -> Iterator[SqlRepository]:
    """A migrated repository on that database (tests read it while a gateway process writes)."""
    repo = open_repository(database_url)
    try:
        yield repo
    finally:
        repo.close()


@pytest.fixture
def sites(tmp_path: Path) -> Iterator[Callable[[int], tuple[Site, ...]]]:
    """A factory: `sites(n)` creates n namespace sites with sshd; all removed after the test."""
    try:
        check_namespaces_possible()
    except SitesUnavailable as err:
        pytest.skip(str(err))
    with ExitStack() as stack:
        counter = iter(range(1_000_000))

        def make(count: int) -> tuple[Site, ...]:
            work = tmp_path / f"sites-{next(counter)}"
            work.mkdir()
            return stack.enter_context(site_network(count, work_dir=work))

        yield make
