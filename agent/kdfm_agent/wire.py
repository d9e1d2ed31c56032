"""Convert readings between the agent's dataclasses and the kdfm.v1 protobuf messages, losslessly.

Optional proto3 fields carry None as "unset"; enums map by name (DeviceStatus.RUNNING <->
DEVICE_STATUS_RUNNING). Timestamps keep microseconds, which is all a datetime holds.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any, TypeVar

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from kdfm_proto.v1 import reading_pb2 as pb

from kdfm_agent import model

_D = TypeVar("_D")


def _enum_to_pb(pb_enum: Any, prefix: str, value: Any) -> Any:
    return pb_enum.Value(f"{prefix}_{value.name}")


def _enum_from_pb(pb_enum: Any, prefix: str, py_enum: Any, number: int) -> Any:
    if number == 0:
        return None
    return py_enum[pb_enum.Name(number).removeprefix(prefix + "_")]


def _plain_to_pb(obj: Any, message: Message) -> None:
    """Copy scalar fields of a dataclass onto a message; None leaves an optional field unset."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if value is None:
            continue
        if isinstance(value, tuple):
            getattr(message, f.name).extend(value)
        else:
            setattr(message, f.name, value)


def _plain_from_pb(cls: type[_D], message: Message, **overrides: Any) -> _D:
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in overrides:
            continue
        descriptor = message.DESCRIPTOR.fields_by_name[f.name]
        if descriptor.is_repeated:
            values[f.name] = tuple(getattr(message, f.name))
        elif descriptor.has_presence and not message.HasField(f.name):
            values[f.name] = None
        else:
            values[f.name] = getattr(message, f.name)
    return cls(**values, **overrides)


def _timestamp(value: datetime) -> Timestamp:
    if value.tzinfo is None:
        raise ValueError("collected_at must be timezone-aware")
    ts = Timestamp()
    ts.FromDatetime(value.astimezone(UTC))
    return ts


def status_to_pb(status: model.Status) -> pb.Status:
    msg = pb.Status(error_flags=status.error_flags)
    if status.device_status is not None:
        msg.device_status = _enum_to_pb(pb.DeviceStatus, "DEVICE_STATUS", status.device_status)
    if status.printer_status is not None:
        msg.printer_status = _enum_to_pb(pb.PrinterStatus, "PRINTER_STATUS", status.printer_status)
    if status.raw_error_state is not None:
        msg.raw_error_state = status.raw_error_state
    if status.summary is not None:
        msg.summary = status.summary
    return msg


def status_from_pb(msg: pb.Status) -> model.Status:
    device, printer = msg.device_status, msg.printer_status
    return model.Status(
        device_status=_enum_from_pb(pb.DeviceStatus, "DEVICE_STATUS", model.DeviceStatus, device)
        if msg.HasField("device_status") else None,
        printer_status=_enum_from_pb(pb.PrinterStatus, "PRINTER_STATUS", model.PrinterStatus,
                                     printer) if msg.HasField("printer_status") else None,
        error_flags=tuple(msg.error_flags),
        raw_error_state=msg.raw_error_state if msg.HasField("raw_error_state") else None,
        summary=msg.summary if msg.HasField("summary") else None,
    )


def supply_to_pb(supply: model.Supply) -> pb.Supply:
    # state and class are enums on the wire; the plain copy carries only the scalar fields.
    plain = dataclasses.replace(supply, state=None, supply_class=None)  # type: ignore[arg-type]
    msg = pb.Supply()
    _plain_to_pb(plain, msg)
    msg.state = _enum_to_pb(pb.SupplyState, "SUPPLY_STATE", supply.state)
    if supply.supply_class is not None:
        msg.supply_class = _enum_to_pb(pb.SupplyClass, "SUPPLY_CLASS", supply.supply_class)
    return msg


def supply_from_pb(msg: pb.Supply) -> model.Supply:
    state = _enum_from_pb(pb.SupplyState, "SUPPLY_STATE", model.SupplyState, msg.state)
    if state is None:
        raise ValueError(f"supply {msg.index} has no state")
    return _plain_from_pb(
        model.Supply, msg, state=state,
        supply_class=_enum_from_pb(pb.SupplyClass, "SUPPLY_CLASS", model.SupplyClass,
                                   msg.supply_class),
    )


def reading_to_pb(reading: model.Reading) -> pb.Reading:
    msg = pb.Reading(
        reading_id=reading.reading_id,
        target=reading.target,
        collected_at=_timestamp(reading.collected_at),
        status=status_to_pb(reading.status),
        counters=[pb.Counter(name=c.name, value=c.value, unit=c.unit, source=c.source)
                  for c in reading.counters],
        supplies=[supply_to_pb(s) for s in reading.supplies],
        trays=[supply_to_pb(s) for s in reading.trays],
    )
    _plain_to_pb(reading.identity, msg.identity)
    for alert in reading.alerts:
        _plain_to_pb(alert, msg.alerts.add())
    for error in reading.errors:
        _plain_to_pb(error, msg.errors.add())
    for name in ("address", "hostname", "profile", "credential"):
        value = getattr(reading, name)
        if value is not None:
            setattr(msg, name, value)
    return msg


def reading_from_pb(msg: pb.Reading) -> model.Reading:
    if not msg.reading_id:
        raise ValueError("reading has no reading_id")
    if not msg.HasField("collected_at"):
        raise ValueError(f"reading {msg.reading_id} has no collected_at")
    return model.Reading(
        reading_id=msg.reading_id,
        target=msg.target,
        collected_at=msg.collected_at.ToDatetime(tzinfo=UTC),
        identity=_plain_from_pb(model.Identity, msg.identity),
        status=status_from_pb(msg.status),
        counters=tuple(_plain_from_pb(model.Counter, c) for c in msg.counters),
        supplies=tuple(supply_from_pb(s) for s in msg.supplies),
        trays=tuple(supply_from_pb(s) for s in msg.trays),
        alerts=tuple(_plain_from_pb(model.Alert, a) for a in msg.alerts),
        errors=tuple(_plain_from_pb(model.DeviceError, e) for e in msg.errors),
        address=msg.address if msg.HasField("address") else None,
        hostname=msg.hostname if msg.HasField("hostname") else None,
        profile=msg.profile if msg.HasField("profile") else None,
        credential=msg.credential if msg.HasField("credential") else None,
    )
