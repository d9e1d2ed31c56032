"""The agent's configuration file (`kdfm-agent run --config FILE`): a tree of dataclasses.

Every setting has a default, a type and one sentence. Unknown keys and wrong types are refused
with the setting's dotted name, so a typo never silently becomes a default.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from kdfm_agent import credentials as creds
from kdfm_agent.errors import ConfigError
from kdfm_agent.snmp.pacing import PacingSettings
from kdfm_agent.snmp.session import SessionSettings
from kdfm_agent.targets import expand_spec, parse_target
from kdfm_agent.uplink.proxy import parse_proxy_url

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """The cloud gateway the agent dials (gRPC over HTTP/2, mutual TLS)."""

    address: str = ""
    """host:port of the gateway; empty: the address recorded at enrolment."""
    ca_file: str = ""
    """PEM bundle the gateway's certificate must chain to; empty: the enrolled CA bundle."""
    cert_file: str = ""
    """The agent's client certificate (PEM); empty: the enrolled certificate."""
    key_file: str = ""
    """The agent's private key (PEM); empty: the enrolled key."""
    server_name: str = ""
    """Name expected in the gateway's certificate when it differs from the address's host."""
    timeout_seconds: float = 30.0
    """Seconds one call may take before it counts as failed."""
    upload_batch_size: int = 100
    """Readings sent in one UploadReadings call."""
    max_message_bytes: int = 4 * 1024 * 1024
    """Largest message sent or received."""
    proxy: str = ""
    """HTTPS proxy URL (http://[user:password@]host:port) for gRPC and MQTT; empty: https_proxy
    from the environment; hosts in no_proxy go direct."""


@dataclass(frozen=True, slots=True)
class PollSettings:
    """How often the agent asks the gateway for work."""

    interval_seconds: float = 300.0
    """Seconds between polls until the gateway answers another interval."""
    jitter_fraction: float = 0.1
    """Each wait is shortened by up to this fraction, so agents do not poll in lockstep."""
    retry_min_seconds: float = 5.0
    """First wait after a failed call; it doubles on every further failure."""
    retry_max_seconds: float = 300.0
    """Longest wait between retries of a failing gateway."""


@dataclass(frozen=True, slots=True)
class SpoolSettings:
    """The local spool readings wait in until the gateway acknowledges them."""

    path: str = ""
    """SQLite file of the spool; empty: spool.db in the state directory."""
    max_readings: int = 100_000
    """Most readings kept; above it the oldest are dropped (and logged)."""
    max_bytes: int = 256 * 1024 * 1024
    """Most bytes of readings kept; above it the oldest are dropped (and logged)."""
    flush_interval_seconds: float = 30.0
    """Seconds between upload attempts while readings wait and nothing new arrives."""


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """The broker connection that carries nudges ("poll now") from the cloud."""

    host: str = ""
    """Broker host name; empty: no MQTT, the agent relies on polling alone."""
    port: int = 443
    """Broker port: 443 for WebSockets+TLS, usually 8883 for MQTT/TLS."""
    transport: Literal["websockets", "tcp"] = "websockets"
    """WebSockets+TLS ("websockets", the default) or plain MQTT/TLS ("tcp")."""
    websocket_path: str = "/mqtt"
    """HTTP path of the broker's WebSockets endpoint."""
    ca_file: str = ""
    """PEM bundle the broker's certificate must chain to; empty: the gateway's CA."""
    username: str = ""
    """Broker user name; empty: the agent id; ignored where the broker takes it from the
    agent's certificate (the agents' listener)."""
    password_file: str = ""
    """File holding the broker password (never the password itself in YAML)."""
    keepalive_seconds: int = 60
    """MQTT keep-alive; the broker publishes the last will after 1.5 times this."""
    reconnect_min_seconds: float = 1.0
    """First wait before reconnecting to a lost broker; it doubles up to the maximum."""
    reconnect_max_seconds: float = 120.0
    """Longest wait between reconnection attempts."""


@dataclass(frozen=True, slots=True)
class CredentialSettings:
    """One SNMP credential set; tried in the order listed until a device answers."""

    name: str = "default"
    """Name the cloud refers to the credential by (the secret never leaves the agent)."""
    version: Literal["1", "2c", "3"] = "2c"
    """SNMP version."""
    community: str = "public"
    """Community string for v1/v2c."""
    user: str = ""
    """SNMPv3 user name."""
    auth_protocol: str = ""
    """SNMPv3 authentication protocol (MD5, SHA, SHA224 ... SHA512); empty: none."""
    auth_key: str = ""
    """SNMPv3 authentication pass phrase."""
    priv_protocol: str = ""
    """SNMPv3 privacy protocol (DES, AES ...); empty: none."""
    priv_key: str = ""
    """SNMPv3 privacy pass phrase."""
    context: str = ""
    """SNMPv3 context name."""

    def credential(self) -> creds.Credential:
        """The credential the SNMP session uses."""
        if self.version != "3":
            return creds.Community(community=self.community,
                                   version=creds.SnmpVersion(self.version))
        try:
            return creds.UsmUser(
                user=self.user,
                auth_protocol=creds.AuthProtocol(self.auth_protocol) if self.auth_protocol
                else None,
                auth_key=self.auth_key or None,
                priv_protocol=creds.PrivProtocol(self.priv_protocol) if self.priv_protocol
                else None,
                priv_key=self.priv_key or None, context=self.context)
        except ValueError as err:
            raise ConfigError(f"credential {self.name!r}: {err}") from err


@dataclass(frozen=True, slots=True)
class ReadSettings:
    """Which printers the agent reads, how, and how often (until the cloud sends a config)."""

    targets: tuple[str, ...] = ()
    """Devices to read ("host", "host:port") and ranges to discover printers in (CIDR, a-b)."""
    exclusions: tuple[str, ...] = ()
    """Addresses, CIDR blocks or ranges never sent a packet, even when a target covers them."""
    port: int = 161
    """UDP port of targets written without one and of every address a range covers."""
    credentials: tuple[CredentialSettings, ...] = (CredentialSettings(),)
    """SNMP credentials, tried in order."""
    interval_seconds: float = 300.0
    """Seconds between full readings of the targets."""
    timeout_seconds: float = 5.0
    """Seconds to wait for one SNMP reply."""
    retries: int = 2
    """SNMP resends after a timeout."""
    concurrency: int = 16
    """Devices probed at the same time during discovery."""
    pacing: PacingSettings = field(default_factory=PacingSettings)
    """Devices read at the same time: a limit that follows the round-trip times."""
    discover_interval_seconds: float = 86400.0
    """Seconds between discoveries of the printers in the target ranges."""
    context_retry_seconds: float = 86400.0
    """Seconds before a fallback SNMP context that did not answer a device is tried again."""

    def session(self) -> SessionSettings:
        """The SNMP session settings every read and discovery probe uses."""
        return SessionSettings(timeout=self.timeout_seconds, retries=self.retries)


@dataclass(frozen=True, slots=True)
class AgentSettings:
    """Everything `kdfm-agent run` reads from its configuration file."""

    tenant: str = ""
    """Tenant the agent belongs to; empty: the tenant recorded at enrolment."""
    agent_id: str = ""
    """This agent's id; empty: the id recorded at enrolment."""
    state_dir: str = "/var/lib/kdfm-agent"
    """Directory of the enrolled identity, the spool and the cloud's configuration."""
    gateway: GatewaySettings = field(default_factory=GatewaySettings)
    """The cloud gateway."""
    poll: PollSettings = field(default_factory=PollSettings)
    """Polling for tasks."""
    spool: SpoolSettings = field(default_factory=SpoolSettings)
    """The local spool."""
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    """Nudges over MQTT."""
    read: ReadSettings = field(default_factory=ReadSettings)
    """Reading the printers."""

    @property
    def spool_path(self) -> Path:
        """Where the spool file is."""
        return Path(self.spool.path) if self.spool.path else Path(self.state_dir) / "spool.db"


def build(cls: type[_T], data: Any, where: str = "") -> _T:
    """An instance of the dataclass `cls` from a mapping; missing keys take their defaults."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where.rstrip('.') or 'the file'} must be a mapping, "
                          f"not {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(where + k for k in unknown)}; "
                          f"known here: {', '.join(sorted(names))}")
    values = {name: _convert(hints[name], value, f"{where}{name}")
              for name, value in data.items()}
    try:
        return cls(**values)
    except ConfigError as err:  # a dataclass's own check (PacingSettings bounds)
        raise ConfigError(f"{where.rstrip('.') or 'settings'}: {err}") from err


def _convert(hint: Any, value: Any, where: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return build(hint, value, where + ".")  # type: ignore[arg-type]
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [o for o in typing.get_args(hint) if o is not type(None)]
        if value is None:
            return None
        hint, origin = options[0], typing.get_origin(options[0])
    if origin is typing.Literal:
        allowed = typing.get_args(hint)
        if value not in allowed:
            raise ConfigError(f"{where} must be one of {', '.join(map(str, allowed))}, "
                              f"not {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{where} must be a list, not {value!r}")
        item = typing.get_args(hint)[0]
        return tuple(_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (str, int, float, bool) and type(value) is not hint:
        raise ConfigError(f"{where} must be {hint.__name__}, not {value!r}")
    return value


def _check(settings: AgentSettings) -> AgentSettings:
    positive = {
        "poll.interval_seconds": settings.poll.interval_seconds,
        "poll.retry_min_seconds": settings.poll.retry_min_seconds,
        "read.interval_seconds": settings.read.interval_seconds,
        "gateway.timeout_seconds": settings.gateway.timeout_seconds,
        "gateway.upload_batch_size": settings.gateway.upload_batch_size,
        "spool.max_readings": settings.spool.max_readings,
        "read.concurrency": settings.read.concurrency,
        "read.discover_interval_seconds": settings.read.discover_interval_seconds,
        "read.context_retry_seconds": settings.read.context_retry_seconds,
    }
    for name, value in positive.items():
        if value <= 0:
            raise ConfigError(f"{name} must be positive, not {value}")
    if settings.gateway.proxy:
        try:
            parse_proxy_url(settings.gateway.proxy)
        except ValueError as err:
            raise ConfigError(str(err)) from err
    if not 0 < settings.read.port < 65536:
        raise ConfigError(f"read.port must be in 1..65535, not {settings.read.port}")
    if not 0 <= settings.poll.jitter_fraction < 1:
        raise ConfigError(f"poll.jitter_fraction must be in [0, 1), "
                          f"not {settings.poll.jitter_fraction}")
    for credential in settings.read.credentials:
        credential.credential()
    for name, specs in (("read.targets", settings.read.targets),
                        ("read.exclusions", settings.read.exclusions)):
        for spec in specs:
            try:
                if expand_spec(spec) is None:
                    parse_target(spec)
            except ConfigError as err:
                raise ConfigError(f"{name}: {err}") from err
    return settings


def load_settings(path: Path) -> AgentSettings:
    """The settings in a YAML file; ConfigError names the file and the setting on a problem."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"cannot read configuration {path}: {err.strerror}") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"configuration {path} is not valid YAML: {err}") from err
    try:
        return _check(build(AgentSettings, data))
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from err
