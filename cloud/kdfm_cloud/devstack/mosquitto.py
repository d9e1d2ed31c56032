"""Mosquitto 2.0 for the dev stack: MQTT/TLS and WebSockets/TLS on loopback, dynamic security.

Authentication and ACLs use the dynamic-security plugin, changed at runtime with
`mosquitto_ctrl` over the TLS listener. A password file reloaded by SIGHUP was the alternative;
it was not chosen because the reload is asynchronous (nothing tells us when it took effect),
while `mosquitto_ctrl` returns only after the broker has applied the change.

There is no plaintext listener. TLS 1.2 is the minimum on both listeners (`tls_version` is a
minimum since Mosquitto 2.0). Mosquitto ignores a bind address on a WebSockets listener, so the
WSS port is chosen free on every interface.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import glob
import json
import os
import pwd
import secrets
import shutil
import socket
import ssl
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography import x509

from kdfm_cloud.devstack.errors import CommandError, DevstackError, StartupError
from kdfm_cloud.devstack.processes import (
    Process,
    free_port,
    start_process,
    stop_pid_file,
    wait_until,
    write_pid_file,
    write_secret_file,
)
from kdfm_cloud.devstack.tls import ServerTls, make_server_tls

DYNSEC_PLUGIN_GLOB = "/usr/lib/*/mosquitto_dynamic_security.so"
STATE_FILE = "mosquitto.json"
PID_FILE = "mosquitto.pid"
DYNSEC_FILE = "dynamic-security.json"
"""The plugin's clients, roles and ACLs; it rewrites the file on every change."""
ADMIN_PASSWORD_FILE = "admin.password"  # noqa: S105 - a file name, not a password
"""The dynamic-security admin's password (0600), kept with DYNSEC_FILE across restarts."""


@dataclass(frozen=True)
class BrokerConfig:
    """How to start the dev-stack Mosquitto."""

    mosquitto: str = "/usr/sbin/mosquitto"
    """The broker binary (Debian's mosquitto 2.0.x)."""

    mosquitto_ctrl: str = "mosquitto_ctrl"
    """The control client used to add and remove clients through the dynamic-security plugin."""

    dynsec_plugin: str | None = None
    """Path of mosquitto_dynamic_security.so; None finds it under /usr/lib/<triplet>/."""

    host: str = "127.0.0.1"
    """Address of the MQTT/TLS listener."""

    mqtt_port: int = 0
    """MQTT/TLS port; 0 picks a free one."""

    wss_port: int = 0
    """WebSockets/TLS port; 0 picks one free on every interface (Mosquitto binds it to all)."""

    admin_user: str = "kdfm-admin"
    """Dynamic-security admin account the launcher uses to manage clients."""

    agent_ca_file: str | None = None
    """PEM bundle that signs agent certificates; set: an MQTT/TLS listener for agents that
    requires a client certificate and takes its CN (the agent id) as the user name."""

    agent_port: int = 0
    """Port of the agents' certificate listener; 0 picks a free one (only with agent_ca_file)."""

    startup_timeout: float = 60.0
    """Seconds to wait for both listeners to complete a TLS handshake."""


@dataclass(frozen=True)
class Broker:
    """A running broker: where it listens, its CA, and the admin account to manage clients."""

    host: str
    mqtt_port: int
    wss_port: int
    ca_cert: Path
    admin_user: str
    admin_password: str
    mosquitto_ctrl: str = "mosquitto_ctrl"
    agent_port: int | None = None
    """MQTT/TLS port where agents log in with their certificate (None: no such listener)."""

    def tls_context(self) -> ssl.SSLContext:
        """A client TLS context that trusts the broker's throwaway CA (TLS 1.2 or newer)."""
        context = ssl.create_default_context(cafile=str(self.ca_cert))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def add_client(
        self,
        username: str,
        password: str,
        *,
        publish: Sequence[str] = (),
        subscribe: Sequence[str] = (),
    ) -> None:
        """Create a client allowed to publish to and subscribe to the given topic filters.

        A client or role of the same name (kept from before a restart) is replaced.
        """
        role = _role_name(username)
        self._create("Role", role)
        for topic in publish:
            self.ctrl("addRoleACL", role, "publishClientSend", topic, "allow")
        for topic in subscribe:
            self.ctrl("addRoleACL", role, "subscribePattern", topic, "allow")
        self._create("Client", username, "-p", password)
        self.ctrl("addClientRole", username, role)

    def _create(self, kind: str, name: str, *options: str) -> None:
        try:
            self.ctrl(f"create{kind}", name, *options)
        except CommandError as err:
            # The common case costs one command; only a name taken before pays for the delete.
            if "already exists" not in str(err):
                raise
            self.ctrl(f"delete{kind}", name)
            self.ctrl(f"create{kind}", name, *options)

    def remove_client(self, username: str, *, missing_ok: bool = False) -> None:
        """Delete a client and its role; its open connections are dropped by the broker.

        With `missing_ok`, a client or role that does not exist (any more) is no error.
        """
        for command in (("deleteClient", username), ("deleteRole", _role_name(username))):
            try:
                self.ctrl(*command)
            except CommandError as err:
                if not (missing_ok and "not found" in str(err).lower()):
                    raise

    def ctrl(self, *command: str) -> str:
        """Run one `mosquitto_ctrl dynsec` command as the admin; raise CommandError on failure."""
        argv = [
            self.mosquitto_ctrl,
            "-h", self.host, "-p", str(self.mqtt_port),
            "--cafile", str(self.ca_cert),
            "-u", self.admin_user, "-P", self.admin_password,
            "dynsec", *command,
        ]
        try:
            result = subprocess.run(argv, check=False, capture_output=True, text=True,
                                    timeout=30)
        except subprocess.TimeoutExpired as err:
            raise CommandError(f"mosquitto_ctrl dynsec {command[0]} timed out after 30 s") from err
        output = (result.stdout + result.stderr).strip()
        # mosquitto_ctrl 2.0.11 exits 0 even when the plugin rejects a command; it then prints
        # "<command>: Error: <reason>" on stderr.
        if result.returncode != 0 or "Error:" in result.stderr:
            raise CommandError(f"mosquitto_ctrl dynsec {' '.join(command[:2])} failed: {output}")
        return output

    def save(self, path: Path) -> None:
        """Write this broker's coordinates as JSON (for a later `load`)."""
        data = asdict(self)
        data["ca_cert"] = str(self.ca_cert)
        path.write_text(json.dumps(data, indent=2) + "\n")
        path.chmod(0o600)  # it holds the admin password

    @classmethod
    def load(cls, path: Path) -> Broker:
        """Read a broker written by `save` (e.g. by a background `start`)."""
        data = json.loads(path.read_text())
        data["ca_cert"] = Path(data["ca_cert"])
        return cls(**data)


def _role_name(username: str) -> str:
    return f"role-{username}"


def find_dynsec_plugin() -> str:
    """The dynamic-security plugin of the installed Mosquitto."""
    matches = sorted(glob.glob(DYNSEC_PLUGIN_GLOB))
    if not matches:
        raise DevstackError(
            f"mosquitto dynamic-security plugin not found ({DYNSEC_PLUGIN_GLOB}); "
            "install the Debian package mosquitto"
        )
    return matches[0]


def _config_text(config: BrokerConfig, *, plugin: str, work_dir: Path, mqtt_port: int,
                 wss_port: int, agent_port: int | None = None) -> str:
    tls = "\n".join([
        f"cafile {work_dir / 'tls' / 'ca.pem'}",
        f"certfile {work_dir / 'tls' / 'server.pem'}",
        f"keyfile {work_dir / 'tls' / 'server-key.pem'}",
        "tls_version tlsv1.2",
    ])
    agents = ""
    if agent_port is not None and config.agent_ca_file:
        # The dynamic-security client named like the CN carries the ACL; no password is asked.
        agents = "\n".join([
            "", f"listener {agent_port} {config.host}", "protocol mqtt",
            f"cafile {config.agent_ca_file}",
            f"certfile {work_dir / 'tls' / 'server.pem'}",
            f"keyfile {work_dir / 'tls' / 'server-key.pem'}",
            "tls_version tlsv1.2", "require_certificate true", "use_identity_as_username true",
            "",
        ])
    return f"""# Written by kdfm_cloud.devstack.mosquitto; regenerated on every start.
# Stay the invoking user: as root Mosquitto would switch to `mosquitto`, which cannot read
# the private key or write the dynamic-security file in this private directory.
user {_current_user()}
per_listener_settings false
allow_anonymous false
persistence false
log_dest stderr
log_type error
log_type warning
log_type notice
log_type information
connection_messages true
plugin {plugin}
plugin_opt_config_file {work_dir / DYNSEC_FILE}

listener {mqtt_port} {config.host}
protocol mqtt
{tls}

listener {wss_port}
protocol websockets
{tls}
{agents}"""


def _current_user() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


def _tls_handshake(host: str, port: int, context: ssl.SSLContext) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2) as sock, \
                context.wrap_socket(sock, server_hostname=host):
            return True
    except OSError:
        return False


def _both_listeners_up(broker: Broker) -> bool:
    context = broker.tls_context()
    return (_tls_handshake(broker.host, broker.mqtt_port, context)
            and _tls_handshake(broker.host, broker.wss_port, context))


def _ctrl_binary(config: BrokerConfig) -> str:
    found = shutil.which(config.mosquitto_ctrl)
    if found is None:
        raise DevstackError(f"{config.mosquitto_ctrl} not found; install mosquitto-clients")
    return found


def _reusable_tls(directory: Path) -> ServerTls | None:
    """The TLS material of an earlier start, when complete and valid for another hour."""
    tls = ServerTls(ca_cert=directory / "ca.pem", cert=directory / "server.pem",
                    key=directory / "server-key.pem")
    try:
        certificates = [x509.load_pem_x509_certificate(p.read_bytes())
                        for p in (tls.ca_cert, tls.cert)]
        tls.key.stat()
    except (OSError, ValueError):
        return None
    soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
    return tls if all(c.not_valid_after_utc > soon for c in certificates) else None


def _dynsec_state(ctrl: str, admin_user: str, work_dir: Path) -> str:
    """The admin password of the dynamic-security state in `work_dir`, made when missing.

    Clients, roles and ACLs live in DYNSEC_FILE, which the plugin loads at start and rewrites
    on every change; keeping it (and the admin password that manages it) is what lets a
    restarted broker keep the agents' accounts.
    """
    dynsec_file, password_file = work_dir / DYNSEC_FILE, work_dir / ADMIN_PASSWORD_FILE
    if dynsec_file.exists() and password_file.exists():
        try:
            json.loads(dynsec_file.read_text())
        except (OSError, ValueError) as err:
            raise StartupError(f"{dynsec_file} is unreadable ({err}); it holds the broker's "
                               "accounts: repair it, or remove it to start with none") from err
        return password_file.read_text().strip()
    admin_password = secrets.token_urlsafe(18)
    # No password to manage an older file with: begin again (its accounts were lost before).
    dynsec_file.unlink(missing_ok=True)
    init = subprocess.run([ctrl, "dynsec", "init", str(dynsec_file), admin_user,
                           admin_password], check=False, capture_output=True, text=True,
                          timeout=30)
    if init.returncode != 0:
        raise StartupError(f"mosquitto_ctrl dynsec init failed: {init.stdout}{init.stderr}")
    write_secret_file(password_file, admin_password)
    return admin_password


def start_broker(config: BrokerConfig, work_dir: Path) -> tuple[Process, Broker]:
    """Start Mosquitto; the caller stops it.

    Files (config, TLS material, dynamic-security JSON, mosquitto.log) go to `work_dir`. What an
    earlier start in the same `work_dir` left is kept: the TLS material, so clients that trust
    the broker's CA still trust a restarted broker (made new only when missing or expiring),
    and the dynamic-security state, so its clients, roles and ACLs survive the restart. A new
    `work_dir` starts with the admin as the only client.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    work_dir.chmod(0o700)
    ctrl = _ctrl_binary(config)
    plugin = config.dynsec_plugin or find_dynsec_plugin()
    tls = _reusable_tls(work_dir / "tls") or make_server_tls(work_dir / "tls")
    admin_password = _dynsec_state(ctrl, config.admin_user, work_dir)
    attempts = 1 if (config.mqtt_port and config.wss_port) else 3
    for attempt in range(attempts):
        mqtt_port = config.mqtt_port or free_port(config.host)
        wss_port = config.wss_port or free_port("0.0.0.0")
        agent_port = (config.agent_port or free_port(config.host)) if config.agent_ca_file \
            else None
        conf = work_dir / "mosquitto.conf"
        conf.write_text(_config_text(config, plugin=plugin, work_dir=work_dir,
                                     mqtt_port=mqtt_port, wss_port=wss_port,
                                     agent_port=agent_port))
        process = start_process("mosquitto", [config.mosquitto, "-c", str(conf)],
                                log_path=work_dir / "mosquitto.log")
        broker = Broker(host=config.host, mqtt_port=mqtt_port, wss_port=wss_port,
                        ca_cert=tls.ca_cert, admin_user=config.admin_user,
                        admin_password=admin_password, mosquitto_ctrl=ctrl,
                        agent_port=agent_port)
        try:
            wait_until(
                functools.partial(_both_listeners_up, broker),
                timeout=config.startup_timeout, what=f"mosquitto on {config.host}:{mqtt_port}",
                alive=process.alive, log_path=process.log_path,
            )
        except StartupError:
            exited_early = not process.alive()
            process.stop()
            if exited_early and attempt + 1 < attempts:
                continue  # most likely a port taken between free_port() and bind
            raise
        return process, broker
    raise AssertionError("unreachable: the last attempt raises")


@contextmanager
def running_broker(
    config: BrokerConfig | None = None, *, work_dir: Path | None = None
) -> Iterator[Broker]:
    """A Mosquitto broker for the duration of the block, always stopped afterwards."""
    with contextlib.ExitStack() as stack:
        if work_dir is None:
            work_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kdfm-mqtt-")))
        process, broker = start_broker(config or BrokerConfig(), work_dir)
        try:
            yield broker
        finally:
            process.stop()


def start(config: BrokerConfig, state_dir: Path) -> Broker:
    """Start a background broker (own session) recorded in `state_dir` for a later `stop`."""
    if (state_dir / PID_FILE).exists():
        raise DevstackError(f"a broker is already recorded in {state_dir / PID_FILE}; stop it")
    process, broker = start_broker(config, state_dir)
    write_pid_file(state_dir / PID_FILE, process.pid)
    broker.save(state_dir / STATE_FILE)
    return broker


def stop(state_dir: Path) -> bool:
    """Stop the background broker recorded in `state_dir`; False if none was running."""
    stopped = stop_pid_file(state_dir / PID_FILE)
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    return stopped
