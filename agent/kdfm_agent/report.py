"""`Reading` as plain JSON-able dicts (`kdfm-agent read --json`) and as a readable text table."""

from __future__ import annotations

import enum
from typing import Any

from kdfm_agent import model


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value if isinstance(value.value, str) else value.name.lower()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _fields(obj: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: _plain(getattr(obj, name)) for name in names}


IDENTITY_KEYS = ("vendor", "model", "serial_number", "mac_address", "firmware", "sys_object_id",
                 "sys_descr", "sys_name", "location", "contact")  # fmt: skip
SUPPLY_KEYS = ("index", "description", "type", "supply_class", "colorant", "unit", "raw_level",
               "raw_max_capacity", "state", "percent", "vendor_state", "part_number",
               "serial_number")  # fmt: skip
STATUS_KEYS = ("device_status", "printer_status", "error_flags", "raw_error_state", "summary")
COUNTER_KEYS = ("name", "value", "unit", "source")
ALERT_KEYS = ("index", "severity", "code", "training_level", "group", "group_index", "location",
              "description", "time_ticks")  # fmt: skip
ERROR_KEYS = ("code", "message", "oid")


def reading_to_json(reading: model.Reading) -> dict[str, Any]:
    """The JSON object of one device (the `read --json` contract)."""
    return {
        "target": reading.target,
        "address": reading.address,
        "hostname": reading.hostname,
        "profile": reading.profile,
        "credential": reading.credential,
        "reading_id": reading.reading_id,
        "collected_at": reading.collected_at.isoformat(),
        "identity": _fields(reading.identity, IDENTITY_KEYS),
        "status": _fields(reading.status, STATUS_KEYS),
        "counters": [_fields(c, COUNTER_KEYS) for c in reading.counters],
        "supplies": [_fields(s, SUPPLY_KEYS) for s in reading.supplies],
        "trays": [_fields(t, SUPPLY_KEYS) for t in reading.trays],
        "alerts": [_fields(a, ALERT_KEYS) for a in reading.alerts],
        "errors": [_fields(e, ERROR_KEYS) for e in reading.errors],
    }


def _level(supply: model.Supply) -> str:
    if supply.percent is not None:
        return f"{supply.percent:5.1f}%"
    if supply.vendor_state is not None:
        return f"{supply.state.value}({supply.vendor_state})"
    return supply.state.value


def reading_to_text(reading: model.Reading) -> str:
    """A few readable lines per device for a terminal."""
    ident = reading.identity
    lines = [
        f"{reading.target}  {ident.vendor or '?'} {ident.model or '?'}"
        f"  serial={ident.serial_number or '-'}  mac={ident.mac_address or '-'}"
        f"  profile={reading.profile}",
        f"  status: {reading.status.summary or 'not reported'}",
    ]
    for counter in reading.counters:
        lines.append(f"  counter {counter.name:<28} {counter.value:>12} {counter.unit}")
    for supply in reading.supplies:
        state = (
            f"{_level(supply)} {supply.state.value}"
            if supply.percent is not None
            else _level(supply)
        )
        lines.append(f"  supply  {supply.index:>3} {supply.description or '?':<40} {state}")
    for tray in reading.trays:
        lines.append(f"  tray    {tray.index:>3} {tray.description or '?':<40} {_level(tray)}")
    for alert in reading.alerts:
        lines.append(f"  alert   {alert.severity:<10} {alert.code} {alert.description or ''}")
    for error in reading.errors:
        lines.append(f"  ERROR   {error.code}: {error.message}")
    return "\n".join(lines)
