"""What `kdfm-cloud fleet` shows: rows of the store as JSON-ready dicts and as a text table."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from kdfm_cloud.store import AlertRow, DeviceRow, ReadingRow, Repository, SupplyRow

KINDS = ("devices", "readings", "supplies", "alerts")

COLUMNS: dict[str, tuple[str, ...]] = {
    "devices": ("tenant", "device_id", "serial_number", "vendor", "model", "address",
                "agent_id", "last_seen"),
    "readings": ("tenant", "reading_id", "serial_number", "agent_id", "collected_at",
                 "received_at"),
    "supplies": ("tenant", "device_id", "serial_number", "kind", "index", "description",
                 "colorant", "part_number", "cartridge_serial", "vendor_state", "state",
                 "percent"),
    "alerts": ("tenant", "device_id", "serial_number", "severity", "code", "group",
               "description"),
}

Row = DeviceRow | ReadingRow | SupplyRow | AlertRow


def rows(repository: Repository, kind: str, tenant: str | None, limit: int = 100
         ) -> Sequence[Row]:
    """The rows of one kind, of one tenant or all."""
    if kind == "devices":
        return repository.devices(tenant)
    if kind == "readings":
        return repository.readings(tenant, limit=limit)
    if kind == "supplies":
        return repository.supplies(tenant)
    if kind == "alerts":
        return repository.alerts(tenant)
    raise ValueError(f"unknown fleet kind {kind!r}; one of {', '.join(KINDS)}")


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def as_json(items: Sequence[Row]) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts; "not known" stays null (a percent is never made up)."""
    return [{k: _plain(v) for k, v in dataclasses.asdict(item).items()} for item in items]


def _cell(name: str, value: Any) -> str:
    if value is None:
        return "" if name == "percent" else "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:.0f}%" if name == "percent" else f"{value:g}"
    return str(value)


def as_table(kind: str, items: Sequence[Row]) -> str:
    """Rows as an aligned text table with a header line."""
    columns = COLUMNS[kind]
    cells = [[_cell(c, getattr(item, c)) for c in columns] for item in items]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)
