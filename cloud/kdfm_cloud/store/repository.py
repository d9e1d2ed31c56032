"""The one storage interface the gateway and the fleet commands use, and the rows it answers.

Back ends (SQLite, PostgreSQL) live behind `open_repository`; callers never see SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from kdfm_proto.v1 import gateway_pb2, reading_pb2

if TYPE_CHECKING:
    from kdfm_cloud.store.trust import TrustRepository


@dataclass(frozen=True, slots=True)
class AgentKey:
    """An agent as the store knows it: unique within its tenant."""

    tenant: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class StoreOutcome:
    """What became of an upload: ids stored now, ids stored before, ids refused (with why)."""

    stored: tuple[str, ...]
    replayed: tuple[str, ...]
    refused: tuple[tuple[str, str], ...] = ()
    """(reading_id, reason) of readings the tenant's quota does not allow; never stored."""

    @property
    def acknowledged(self) -> tuple[str, ...]:
        """Every id the agent may drop from its spool."""
        return self.stored + self.replayed


@dataclass(frozen=True, slots=True)
class TaskLease:
    """How long a handed-out task may stay unreported before it is handed out again."""

    duration: timedelta = timedelta(minutes=15)
    """Time after a delivery within which the agent is expected to report the result."""
    max_deliveries: int = 5
    """Deliveries after which an unreported task is failed instead of handed out again."""


DEFAULT_LEASE = TaskLease()
"""The lease of tasks when the caller names none."""


@dataclass(frozen=True, slots=True)
class TaskRow:
    """A task as the fleet operator sees it."""

    tenant: str
    agent_id: str
    task_id: str
    kind: str
    """read_now, discover_now, update_config, web_access or diagnostics."""
    state: str
    """queued, delivered, succeeded, failed or rejected."""
    created_at: datetime
    delivered_at: datetime | None
    finished_at: datetime | None
    deliveries: int
    message: str | None


@dataclass(frozen=True, slots=True)
class DeviceRow:
    """A printer of a tenant; one row however often its IP address changes."""

    tenant: str
    device_id: int
    serial_number: str | None
    mac_address: str | None
    vendor: str | None
    model: str | None
    address: str | None
    target: str
    agent_id: str
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class ReadingRow:
    """One stored reading, without its body."""

    tenant: str
    reading_id: str
    agent_id: str
    device_id: int
    serial_number: str | None
    collected_at: datetime
    received_at: datetime


@dataclass(frozen=True, slots=True)
class SupplyRow:
    """A supply or tray of a device's latest reading; `percent` is None unless known."""

    tenant: str
    device_id: int
    serial_number: str | None
    """The printer's serial number (the cartridge's is `cartridge_serial`)."""
    model: str | None
    kind: str
    index: int
    description: str | None
    colorant: str | None
    part_number: str | None
    """The cartridge's (or tray's medium's) part number; None when the device does not say."""
    cartridge_serial: str | None
    """The cartridge's own serial number; None when the device does not say."""
    vendor_state: str | None
    """The vendor's code behind a typed state (e.g. "brToner1Low=1"); None when there is none."""
    state: str
    percent: float | None
    collected_at: datetime


@dataclass(frozen=True, slots=True)
class AlertRow:
    """An alert of a device's latest reading."""

    tenant: str
    device_id: int
    serial_number: str | None
    model: str | None
    index: int
    severity: str
    code: str
    group: str | None
    description: str | None
    collected_at: datetime


class Repository(Protocol):
    """Everything the cloud stores. Calls block; async callers run them in a worker thread."""

    @property
    def trust(self) -> TrustRepository:
        """Tenants, activation codes, agent certificates and revocations."""

    def migrate(self) -> None:
        """Bring the schema to the newest revision."""

    def close(self) -> None:
        """Release every connection."""

    def record_poll(self, agent: AgentKey, agent_version: str, spooled: int) -> None:
        """Note that an agent polled (creating tenant and agent on first contact)."""

    def store_readings(self, agent: AgentKey, readings: Sequence[reading_pb2.Reading],
                       received_at: datetime) -> StoreOutcome:
        """Store valid readings once each, atomically; a reading id seen before is a replay."""

    def queue_task(self, agent: AgentKey, task: gateway_pb2.Task) -> gateway_pb2.Task:
        """Queue a task for an agent; fills in task_id and created_at when empty."""

    def take_tasks(self, agent: AgentKey, limit: int,
                   lease: TaskLease = DEFAULT_LEASE) -> list[gateway_pb2.Task]:
        """Hand out the agent's queued tasks and those whose lease ran out, oldest first."""

    def finish_task(self, agent: AgentKey, task_id: str, outcome: str, message: str) -> bool:
        """Record how the agent's task ended; False when the agent has no such task."""

    def task_state(self, task_id: str) -> str | None:
        """The state of a task (queued, delivered, succeeded, failed, rejected) or None."""

    def tasks(self, tenant: str | None = None, agent_id: str | None = None,
              limit: int = 100) -> list[TaskRow]:
        """The newest tasks first, of one tenant and/or agent or all."""

    def set_config(self, agent: AgentKey, config: gateway_pb2.AgentConfig) -> int:
        """Give an agent a new configuration; answers the new version."""

    def config_if_changed(self, agent: AgentKey,
                          known_version: int) -> gateway_pb2.AgentConfig | None:
        """The agent's configuration when its version differs from `known_version`."""

    def devices(self, tenant: str | None = None) -> list[DeviceRow]:
        """Devices, of one tenant or all."""

    def readings(self, tenant: str | None = None, limit: int = 100) -> list[ReadingRow]:
        """The newest readings first."""

    def reading_body(self, tenant: str, reading_id: str) -> reading_pb2.Reading | None:
        """The stored reading as the agent sent it (None: no such reading)."""

    def reading_ids(self, tenant: str | None = None) -> list[str]:
        """Every stored reading id (duplicates would show here)."""

    def supplies(self, tenant: str | None = None) -> list[SupplyRow]:
        """Supplies and trays of every device's latest reading."""

    def alerts(self, tenant: str | None = None) -> list[AlertRow]:
        """Alerts of every device's latest reading."""
