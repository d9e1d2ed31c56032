"""The reading of one printer: frozen dataclasses, "not reported" is None.

RFC 3805's special levels (-1 unrestricted, -2 unknown, -3 some remaining) are typed states
(`SupplyState`), never a number in `percent`. The protobuf twin lives in kdfm_proto.v1.reading_pb2;
`kdfm_agent.wire` converts both ways without loss.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class DeviceStatus(enum.Enum):
    """hrDeviceStatus."""

    UNKNOWN = 1
    RUNNING = 2
    WARNING = 3
    TESTING = 4
    DOWN = 5


class PrinterStatus(enum.Enum):
    """hrPrinterStatus."""

    OTHER = 1
    UNKNOWN = 2
    IDLE = 3
    PRINTING = 4
    WARMUP = 5


class SupplyClass(enum.Enum):
    """prtMarkerSuppliesClass: is the level what remains, or how full a receptacle is."""

    OTHER = 1
    CONSUMED = 3
    RECEPTACLE = 4


class SupplyState(enum.Enum):
    """What a supply's level means, typed; `percent` only when level and capacity are known."""

    OK = "ok"
    LOW = "low"
    EMPTY = "empty"
    UNKNOWN = "unknown"
    SOME_REMAINING = "some_remaining"
    UNRESTRICTED = "unrestricted"
    VENDOR_CODE = "vendor_code"
    NEARLY_FULL = "nearly_full"
    FULL = "full"
    NOT_REPORTED = "not_reported"
    MISSING = "missing"


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the device is. MAC lower-case, colon separated; sys_object_id dotted, no leading dot."""

    vendor: str | None = None
    model: str | None = None
    serial_number: str | None = None
    mac_address: str | None = None
    firmware: str | None = None
    sys_object_id: str | None = None
    sys_descr: str | None = None
    sys_name: str | None = None
    location: str | None = None
    contact: str | None = None


@dataclass(frozen=True, slots=True)
class Status:
    """hrDeviceStatus, hrPrinterStatus, hrPrinterDetectedErrorState and what they mean together."""

    device_status: DeviceStatus | None = None
    printer_status: PrinterStatus | None = None
    error_flags: tuple[str, ...] = ()
    raw_error_state: bytes | None = None
    summary: str | None = None


@dataclass(frozen=True, slots=True)
class Counter:
    """One page (or hour, metre ...) counter and the OID it came from."""

    name: str
    value: int
    unit: str
    source: str


@dataclass(frozen=True, slots=True)
class Supply:
    """A marker supply or an input tray; `percent` only when level and capacity are both known."""

    index: int
    state: SupplyState
    supply_class: SupplyClass | None = None
    description: str | None = None
    type: str | None = None
    colorant: str | None = None
    unit: str | None = None
    raw_level: int | None = None
    raw_max_capacity: int | None = None
    percent: float | None = None
    vendor_state: str | None = None
    part_number: str | None = None
    serial_number: str | None = None
    """The cartridge's own serial number where the device says it; None = not reported."""


@dataclass(frozen=True, slots=True)
class Alert:
    """One row of prtAlertTable, enum values by their RFC 3805 names."""

    index: int
    severity: str
    code: str
    training_level: str | None = None
    group: str | None = None
    group_index: int | None = None
    location: int | None = None
    description: str | None = None
    time_ticks: int | None = None


@dataclass(frozen=True, slots=True)
class DeviceError:
    """Something that went wrong reading this device; what was read before it is kept."""

    code: str
    message: str
    oid: str | None = None


@dataclass(frozen=True, slots=True)
class Reading:
    """Everything read from one device at one time. `collected_at` is timezone-aware UTC."""

    reading_id: str
    target: str
    collected_at: datetime
    identity: Identity = field(default_factory=Identity)
    status: Status = field(default_factory=Status)
    counters: tuple[Counter, ...] = ()
    supplies: tuple[Supply, ...] = ()
    trays: tuple[Supply, ...] = ()
    alerts: tuple[Alert, ...] = ()
    errors: tuple[DeviceError, ...] = ()
    address: str | None = None
    hostname: str | None = None
    profile: str | None = None
    credential: str | None = None
