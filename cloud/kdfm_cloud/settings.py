"""The cloud side's configuration file (`kdfm-cloud serve --config FILE`), as dataclasses.

Every setting has a default, a type and one sentence; relative paths are relative to the
directory the process runs in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from kdfm_cloud import yamlconfig
from kdfm_cloud.errors import ConfigError


def read_secret(path: str, setting: str) -> str:
    """The secret a file holds, without surrounding whitespace; ConfigError naming `setting`
    (e.g. "vault.token_file") when the file cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as err:
        raise ConfigError(f"cannot read {setting} {path!r}: {err.strerror}") from err


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """The gateway's TLS material: its certificate and the CA that signs agent certificates."""

    cert_file: str = ""
    """PEM certificate chain the gateway presents to agents."""
    key_file: str = ""
    """PEM private key of cert_file."""
    client_ca_file: str = ""
    """PEM bundle of the CA(s) whose agent certificates are accepted (mutual TLS)."""


@dataclass(frozen=True, slots=True)
class EnrollSettings:
    """Enrolment of new agents: the server-authenticated port, activation codes, certificates.

    grpc (Python) cannot ask for an optional client certificate, so enrolment has its own port
    with server-authenticated TLS that answers Enroll only; every other call needs the
    mutual-TLS port. The agent learns the mutual-TLS address from the Enroll answer.
    """

    listen: str = ""
    """host:port of the enrolment port; port 0 picks a free one; empty: no enrolment."""
    port_file: str = ""
    """File the bound enrolment port is written to once it listens; empty: none."""
    advertise: str = ""
    """host:port agents dial with their certificate; empty: the mutual-TLS listen address."""
    ca_bundle_file: str = ""
    """PEM bundle agents must trust for the gateway and the broker, answered at enrolment."""
    certificate_ttl: str = "720h"
    """Lifetime of agent certificates (Vault duration: 720h, 90s ...)."""
    max_failures_per_code: int = 5
    """Failed enrolments that burn an activation code (the 5th)."""
    max_failures_per_source: int = 20
    """Failed enrolments after which a source address is refused until its window passed."""
    source_window_seconds: float = 3600.0
    """Seconds a source address's failed enrolments are remembered."""


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """The gRPC AgentGateway server."""

    listen: str = "127.0.0.1:8443"
    """host:port to listen on; port 0 picks a free port (written to port_file)."""
    port_file: str = ""
    """File the bound port is written to once the server listens; empty: none."""
    tls: TlsSettings = field(default_factory=TlsSettings)
    """Server certificate and client CA; the gateway never serves without TLS."""
    max_message_bytes: int = 4 * 1024 * 1024
    """Largest request accepted; a bigger upload is refused with RESOURCE_EXHAUSTED."""
    poll_interval_seconds: int = 300
    """Seconds the agent waits between polls (answered in every PollResponse)."""
    max_tasks_per_poll: int = 50
    """Most tasks handed out in one PollResponse; the rest wait for the next poll."""
    task_lease_seconds: float = 900.0
    """Seconds a handed-out task may stay unreported before it is handed out again."""
    task_max_deliveries: int = 5
    """Deliveries after which a task never reported is marked failed."""
    max_readings_per_upload: int = 500
    """Most readings accepted in one UploadReadings call."""
    shutdown_grace_seconds: float = 10.0
    """Seconds running calls get to finish on SIGTERM before they are cancelled."""
    enroll: EnrollSettings = field(default_factory=EnrollSettings)
    """Enrolment of new agents (its own server-authenticated port)."""
    admin_identities: tuple[str, ...] = ()
    """Operator names (URI SAN kdfm://operator/<name>) allowed the TenantAdmin API; empty: none."""
    workers: int = 1
    """Gateway processes sharing the listen port, one core each; more than 1 needs fixed ports."""


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """Where the cloud keeps its data."""

    database: str = "sqlite:///.kdfm/cloud.db"
    """Database URL: sqlite:///PATH (embedded, the default) or postgresql://..."""


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """The broker the cloud publishes task nudges on."""

    host: str = ""
    """Broker host name; empty: no nudges are published (agents still poll)."""
    port: int = 8883
    """Broker port of the chosen transport."""
    transport: Literal["tcp", "websockets"] = "tcp"
    """MQTT over TLS ("tcp") or over WebSockets+TLS ("websockets")."""
    ca_file: str = ""
    """PEM bundle that signs the broker's certificate."""
    username: str = ""
    """User name of the cloud's publisher account."""
    password_file: str = ""
    """File holding that account's password (never the password itself in YAML)."""
    client_id: str = "kdfm-cloud-nudger"
    """MQTT client id prefix of the publisher (each connection adds a random suffix)."""


@dataclass(frozen=True, slots=True)
class VaultSettings:
    """The Vault/OpenBao PKI that signs agent certificates."""

    addr: str = ""
    """API URL (http://127.0.0.1:8200); empty: no enrolment and no renewal."""
    token_file: str = ""
    """File holding the token (never the token itself in YAML)."""
    mount: str = "pki_int"
    """Mount path of the issuing CA."""
    timeout_seconds: float = 10.0
    """Seconds one Vault request may take."""


@dataclass(frozen=True, slots=True)
class BrokerAdminSettings:
    """The broker's dynamic-security admin account: agent accounts are made and dropped here."""

    host: str = ""
    """Broker host; empty: agents get no broker account (nudges still work by polling)."""
    port: int = 8883
    """MQTT/TLS port the admin connects to."""
    ca_file: str = ""
    """PEM bundle that signs the broker's certificate."""
    admin_user: str = "kdfm-admin"
    """Dynamic-security admin user."""
    admin_password_file: str = ""
    """File holding the admin password."""


@dataclass(frozen=True, slots=True)
class CloudSettings:
    """Everything `kdfm-cloud serve` reads from its configuration file."""

    gateway: GatewaySettings = field(default_factory=GatewaySettings)
    """The gRPC gateway agents dial."""
    store: StoreSettings = field(default_factory=StoreSettings)
    """The database."""
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    """The broker nudges go out on."""
    vault: VaultSettings = field(default_factory=VaultSettings)
    """The PKI that signs agent certificates."""
    broker_admin: BrokerAdminSettings = field(default_factory=BrokerAdminSettings)
    """Where agent broker accounts are managed."""


def load_settings(path: Path) -> CloudSettings:
    """The settings in a YAML file; ConfigError names the file and the setting on a problem."""
    return yamlconfig.load(CloudSettings, path)
