"""Reading one printer: walk the Printer-MIB and the profile's vendor objects, build a `Reading`.

Nothing here raises for a device's misbehaviour: whatever could be read is kept and every
failure becomes a `DeviceError` in the reading (RFC 3805 devices are old and inventive).
"""

from __future__ import annotations

import bisect
import enum
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from kdfm_agent import decode, model
from kdfm_agent.errors import SnmpError, SnmpTimeoutError
from kdfm_agent.profile import GENERIC, Profile, Source, builtin_profiles, select
from kdfm_agent.snmp import printer_mib as mib
from kdfm_agent.snmp.session import SnmpSession, SnmpValue, oid_tuple

ContextOpener = Callable[[str], AbstractAsyncContextManager[SnmpSession]]
"""Opens a session on the same device for another SNMP context (HP's "Jetdirect")."""

WALKS: tuple[tuple[str, int], ...] = (
    (mib.IF_PHYS_ADDRESS, 8),
    (mib.HR_DEVICE_GROUP, 50),
    (mib.PRINTER_MIB, 50),
)
"""Subtrees walked on every device and the rows asked per GETBULK request.

The whole hrDevice group and Printer-MIB are walked rather than their ten tables one by one:
each separate walk ends with a request whose rows fall past its table, so one walk per subtree
costs a device about half the requests (and the agent half the CPU) for the same answers. Large
pages suit the large subtrees; the interface column holds a row per interface. ifType is not
walked: a software loopback has a zero-length ifPhysAddress (RFC 2863), which `decode.mac` skips.
"""


CONTEXT_TABLES = (mib.PRT_SUPPLIES_ENTRY, mib.PRT_COLORANT_ENTRY)
"""What a fallback context may supply that the default context lacked."""


_EMPTY: Mapping[str, SnmpValue] = {}

_E = TypeVar("_E", bound=enum.Enum)


@dataclass
class _Device:
    """Everything read so far from one device: a flat OID -> value map plus the errors."""

    values: dict[str, SnmpValue] = field(default_factory=dict)
    errors: list[model.DeviceError] = field(default_factory=list)
    dead: bool = False
    _entries: dict[str, dict[int, dict[str, SnmpValue]]] = field(default_factory=dict)
    """Rows of each table entry looked up so far, by column then index; cleared by `add`."""
    _sorted: list[str] | None = None
    """The OIDs of `values` in string order, for finding an entry's rows; cleared by `add`."""

    def add(self, rows: Mapping[str, SnmpValue] | Iterable[tuple[str, SnmpValue]]) -> None:
        """Keep `rows` (later reads of the same OID win)."""
        self.values.update(rows)
        self._entries.clear()
        self._sorted = None

    def column(self, entry: str, column: int) -> Mapping[str, SnmpValue]:
        """Rows of `entry.column` keyed by their index suffix ("1.3"); do not modify."""
        columns = self._entries.get(entry)
        if columns is None:
            # Some 35 columns of 10 entries are looked up per device among ~700 values. In string
            # order every OID that starts with "entry." lies between "entry." and "entry/" ('/'
            # follows '.'), so two bisections of the sorted OIDs find an entry's rows: scanning
            # every value per entry cost a sixth of a reading's CPU.
            if self._sorted is None:
                self._sorted = sorted(self.values)
            keys = self._sorted
            prefix = entry + "."
            cut = len(prefix)
            values = self.values
            columns = {}
            lo = bisect.bisect_left(keys, prefix)
            hi = bisect.bisect_left(keys, entry + "/", lo)
            for oid_text in keys[lo:hi]:
                number, _, index = oid_text[cut:].partition(".")
                if index and number.isdigit():
                    columns.setdefault(int(number), {})[index] = values[oid_text]
            self._entries[entry] = columns
        return columns.get(column, _EMPTY)

    def rows(self, prefix: str) -> Mapping[str, SnmpValue]:
        """Rows under `prefix` keyed by their index suffix."""
        return self.column(prefix.rsplit(".", 1)[0], int(prefix.rsplit(".", 1)[1]))

    def fail(self, err: SnmpError) -> None:
        self.errors.append(model.DeviceError(code=err.code, message=str(err), oid=err.oid))
        if isinstance(err, SnmpTimeoutError):
            # A device that stopped answering would cost a full timeout per remaining table.
            self.dead = True


async def _walk_into(
    session: SnmpSession,
    device: _Device,
    roots: Iterable[str | tuple[str, int]],
    *,
    bulk: bool = True,
) -> None:
    for item in roots:
        root, repetitions = item if isinstance(item, tuple) else (item, None)
        if device.dead:
            return
        try:
            device.add(await session.walk(root, bulk=bulk, repetitions=repetitions))
        except SnmpError as err:
            device.fail(err)


async def _get_into(session: SnmpSession, device: _Device, oids: Iterable[str]) -> None:
    wanted = sorted({o for o in oids if o not in device.values})
    if device.dead or not wanted:
        return
    try:
        device.add(await session.get_many(wanted))
    except SnmpError as err:
        device.fail(err)


async def collect(
    session: SnmpSession,
    *,
    open_context: ContextOpener | None = None,
    profiles: Mapping[str, Profile] | None = None,
    hostname: str | None = None,
) -> model.Reading:
    """Read the device behind `session` (already entered) into a `Reading`."""
    profiles = profiles if profiles is not None else builtin_profiles()
    collected_at = datetime.now(UTC)
    device = _Device()
    await _get_into(session, device, mib.SYSTEM_SCALARS)
    sys_object_id = decode.oid(device.values.get(mib.SYS_OBJECT_ID))
    sys_descr = decode.text(device.values.get(mib.SYS_DESCR))
    profile = select(profiles, sys_object_id, sys_descr) or profiles[GENERIC]
    # Firmware whose GETBULK is broken is walked with GETNEXT (the profile names the firmware).
    bulk = not profile.quirks.no_bulk
    await _walk_into(session, device, WALKS, bulk=bulk)
    for spec in profile.counters:
        if spec.table:
            await _walk_into(session, device, [spec.oid], bulk=bulk)
    await _get_into(session, device, _scalar_oids(profile))
    context = profile.quirks.fallback_context
    if context and open_context is not None and not device.dead and _needs_context(device, profile):
        await _read_context(device, profile, context, open_context)
    return model.Reading(
        reading_id=str(uuid.uuid4()),
        target=session.target.label,
        collected_at=collected_at,
        identity=_identity(device, profile, sys_object_id, sys_descr),
        status=_status(device),
        counters=_counters(device, profile),
        supplies=_supplies(device, profile),
        trays=_trays(device, profile),
        alerts=_alerts(device),
        errors=tuple(device.errors),
        address=session.address,
        hostname=hostname,
        profile=profile.name,
        credential=session.credential.label,
    )


def _scalar_oids(profile: Profile) -> list[str]:
    sources = (*profile.model, *profile.serial_number, *profile.firmware)
    return (
        [s.oid for s in sources]
        + [c.oid for c in profile.counters if not c.table]
        + [spec.oid for spec in profile.supply_status]
    )


def _needs_context(device: _Device, profile: Profile) -> bool:
    missing_supplies = not device.column(mib.PRT_SUPPLIES_ENTRY, mib.SUPPLY_LEVEL)
    # Only when no model source answered: firmware without the preferred object (HP's gdStatusId)
    # but with hrDeviceDescr would otherwise cost a full timeout per poll on a context it lacks.
    missing_identity = bool(profile.model) and _first(device, profile.model) is None
    return missing_supplies or missing_identity


async def _read_context(
    device: _Device, profile: Profile, context: str, open_context: ContextOpener
) -> None:
    extra = _Device()
    try:
        async with open_context(context) as session:
            await _walk_into(session, extra, CONTEXT_TABLES, bulk=not profile.quirks.no_bulk)
            await _get_into(session, extra, _scalar_oids(profile))
    except SnmpError as err:
        extra.fail(err)
    device.add({o: v for o, v in extra.values.items() if o not in device.values})
    device.errors.extend(
        model.DeviceError(e.code, f"{_context_prefix(context)} {e.message}", e.oid)
        for e in extra.errors
    )


def _context_prefix(context: str) -> str:
    """How the message of an error met in a fallback context starts."""
    return f"context {context!r}:"


def context_timed_out(reading: model.Reading, context: str) -> bool:
    """True when the fallback `context` was tried for `reading` and did not answer."""
    prefix = _context_prefix(context)
    return any(
        e.code == SnmpTimeoutError.code and e.message.startswith(prefix) for e in reading.errors
    )


def _first(device: _Device, sources: Iterable[Source]) -> str | None:
    for source in sources:
        value = decode.text(device.values.get(source.oid))
        if value is not None and (found := source.extract(value)) is not None:
            return found
    return None


def _identity(
    device: _Device, profile: Profile, sys_object_id: str | None, sys_descr: str | None
) -> model.Identity:
    return model.Identity(
        vendor=profile.vendor,
        model=_first(device, profile.model),
        serial_number=_first(device, profile.serial_number),
        mac_address=_mac(device),
        firmware=_first(device, profile.firmware),
        sys_object_id=sys_object_id,
        sys_descr=sys_descr,
        sys_name=decode.text(device.values.get(mib.SYS_NAME)),
        location=decode.text(device.values.get(mib.SYS_LOCATION)),
        contact=decode.text(device.values.get(mib.SYS_CONTACT)),
    )


def _mac(device: _Device) -> str | None:
    for _index, value in sorted(device.rows(mib.IF_PHYS_ADDRESS).items(), key=_index_key):
        if (address := decode.mac(value)) is not None:
            return address
    return None


def _index_key(item: tuple[str, object]) -> tuple[int, ...]:
    return oid_tuple(item[0])


def _enum_member(cls: type[_E], value: SnmpValue) -> _E | None:
    """The member of `cls` numbered `value`; None for no answer or a number `cls` lacks."""
    number = decode.integer(value)
    known = {s.value for s in cls}
    return cls(number) if number in known else None


def _status(device: _Device) -> model.Status:
    printers = [i for i, v in device.rows(mib.HR_DEVICE_TYPE).items()
                if decode.oid(v) == mib.HR_DEVICE_PRINTER]  # fmt: skip
    printer_rows = device.rows(mib.HR_PRINTER_STATUS)
    index = next(iter(sorted(printers, key=oid_tuple)), None) or next(
        iter(sorted(printer_rows, key=oid_tuple)), None
    )
    if index is None:
        return model.Status()
    device_status = _enum_member(model.DeviceStatus, device.rows(mib.HR_DEVICE_STATUS).get(index))
    printer_status = _enum_member(model.PrinterStatus, printer_rows.get(index))
    raw_errors = device.rows(mib.HR_PRINTER_ERROR_STATE).get(index)
    flags = decode.error_bits(raw_errors)
    return model.Status(
        device_status=device_status,
        printer_status=printer_status,
        error_flags=flags,
        raw_error_state=raw_errors if isinstance(raw_errors, bytes) else None,
        summary=_summary(device_status, printer_status, flags),
    )


def _summary(
    device_status: model.DeviceStatus | None,
    printer_status: model.PrinterStatus | None,
    flags: tuple[str, ...],
) -> str | None:
    """RFC 3805 2.2.13.2: the three objects read together give the printer's condition."""
    if device_status is None and printer_status is None:
        return None
    activity = printer_status.name.lower() if printer_status else "unknown"
    match device_status:
        case model.DeviceStatus.RUNNING:
            # running + idle/printing/warmup; "other" here means e.g. a power-save state.
            condition = activity
        case model.DeviceStatus.WARNING:
            condition = f"{activity} with warning"
        case model.DeviceStatus.DOWN:
            condition = "offline" if "offline" in flags and not flags[1:] else "down"
        case model.DeviceStatus.TESTING:
            condition = "testing"
        case _:
            condition = "unknown"
    return f"{condition}: {', '.join(flags)}" if flags else condition


def _counters(device: _Device, profile: Profile) -> tuple[model.Counter, ...]:
    counters: list[model.Counter] = []
    units = device.column(mib.PRT_MARKER_ENTRY, mib.MARKER_COUNTER_UNIT)
    for column, name in ((mib.MARKER_LIFE_COUNT, "life_count"),
                         (mib.MARKER_POWER_ON_COUNT, "power_on_count")):  # fmt: skip
        rows = device.column(mib.PRT_MARKER_ENTRY, column)
        for index, value in sorted(rows.items(), key=_index_key):
            suffix = "" if len(rows) == 1 else f".{index.rsplit('.', 1)[-1]}"
            unit = decode.enum_name(mib.MARKER_COUNTER_UNITS, units.get(index)) or "unknown"
            oid = f"{mib.PRT_MARKER_ENTRY}.{column}.{index}"
            _add_counter(device, counters, f"{name}{suffix}", value, unit=unit, oid=oid)
    for spec in profile.counters:
        if spec.table:
            for index, value in sorted(device.rows(spec.oid).items(), key=_index_key):
                name = spec.names.get(index, f"{spec.name}.{index}")
                _add_counter(
                    device, counters, name, value, unit=spec.unit, oid=f"{spec.oid}.{index}"
                )
        elif spec.oid in device.values:
            raw = device.values[spec.oid]
            if isinstance(raw, bytes) and (as_text := decode.text(raw)) is not None:
                raw = spec.count(as_text)
            _add_counter(device, counters, spec.name, raw, unit=spec.unit, oid=spec.oid)
    return tuple(counters)


def _add_counter(
    device: _Device,
    counters: list[model.Counter],
    name: str,
    raw: SnmpValue,
    *,
    unit: str,
    oid: str,
) -> None:
    value = decode.integer(raw)
    if value is None or value < 0:
        device.errors.append(
            model.DeviceError("bad_value", f"counter {name} is not a count: {raw!r}", oid)
        )
        return
    counters.append(model.Counter(name=name, value=value, unit=unit, source=oid))


def _colour_from_text(description: str | None) -> str | None:
    if not description:
        return None
    lowered = description.lower()
    for colour in mib.COLOURS:
        if colour in lowered:
            return "gray" if colour == "grey" else colour
    return None


def _colorant(from_table: str | None, description: str | None, profile: Profile) -> str | None:
    from_text = _colour_from_text(description)
    if profile.quirks.colorant_from_description and from_text:
        return from_text
    return from_table.lower() if from_table else from_text


WASTE_TYPES = frozenset({4, 8, 14, 24, 26})
"""wasteToner, wasteInk, wasteWax, wasteWater, wastePaper: receptacles by definition."""

WASTE_DESCRIPTION = re.compile(r"\b(waste|residual|collector)\b", re.IGNORECASE)
"""Names of receptacles, for firmware that gives neither class nor type (Xerox AltaLink)."""


def _supplies(device: _Device, profile: Profile) -> tuple[model.Supply, ...]:
    entry = mib.PRT_SUPPLIES_ENTRY
    columns = {c: device.column(entry, c) for c in range(2, 10)}
    colorants = device.column(mib.PRT_COLORANT_ENTRY, mib.COLORANT_VALUE)
    indexes = set(columns[mib.SUPPLY_LEVEL]) | set(columns[mib.SUPPLY_DESCRIPTION])
    supplies = []
    for index in sorted(indexes, key=oid_tuple):
        parts = profile.quirks.split_description(
            decode.text(columns[mib.SUPPLY_DESCRIPTION].get(index))
        )
        description = parts.description
        colorant_index = decode.integer(columns[mib.SUPPLY_COLORANT_INDEX].get(index))
        device_index = index.split(".")[0]
        colorant = None
        if colorant_index:
            colorant = decode.text(colorants.get(f"{device_index}.{colorant_index}"))
        class_number = decode.integer(columns[mib.SUPPLY_CLASS].get(index))
        supply_class = model.SupplyClass(class_number) if class_number in (1, 3, 4) else None
        type_number = decode.integer(columns[mib.SUPPLY_TYPE].get(index))
        # prtMarkerSuppliesClass is mandatory, yet some firmware omits it; a waste type (or,
        # with no type either, a waste name) still tells that the level is the space left.
        receptacle = supply_class is model.SupplyClass.RECEPTACLE or (
            supply_class is None and (
                type_number in WASTE_TYPES
                or (type_number is None and bool(WASTE_DESCRIPTION.search(description or "")))
            )
        )
        level = decode.integer(columns[mib.SUPPLY_LEVEL].get(index))
        capacity = decode.integer(columns[mib.SUPPLY_MAX_CAPACITY].get(index))
        state, percent, vendor_state = supply_state(level, capacity, receptacle, profile)
        type_name = decode.enum_name(mib.SUPPLY_TYPES, columns[mib.SUPPLY_TYPE].get(index))
        colour = _colorant(colorant, description, profile)
        if state in AMOUNT_UNKNOWN:
            state, vendor_state = _vendor_status(device, profile, type_name, colour) or (
                state, vendor_state
            )
        supplies.append(
            model.Supply(
                index=int(index.rsplit(".", 1)[-1]),
                state=state,
                supply_class=supply_class,
                description=description,
                type=type_name,
                colorant=colour,
                unit=decode.enum_name(mib.SUPPLY_UNITS, columns[mib.SUPPLY_UNIT].get(index)),
                raw_level=level,
                raw_max_capacity=capacity,
                percent=percent,
                vendor_state=vendor_state,
                part_number=parts.part_number,
                serial_number=parts.serial_number,
            )
        )
    return tuple(supplies)


AMOUNT_UNKNOWN = frozenset(
    {model.SupplyState.UNKNOWN, model.SupplyState.SOME_REMAINING, model.SupplyState.NOT_REPORTED}
)
"""States that say nothing of how much is left: a vendor status object may tell more."""


def _vendor_status(
    device: _Device, profile: Profile, type_name: str | None, colorant: str | None
) -> tuple[model.SupplyState, str] | None:
    """(state, vendor_state) from the profile's status object for this supply, if it answered."""
    for spec in profile.supply_status:
        if spec.type != type_name or spec.colorant != colorant:
            continue
        code = decode.integer(device.values.get(spec.oid))
        if code is None or code not in spec.codes:
            # An undocumented code (or no answer) leaves the Printer-MIB's state standing.
            return None
        return model.SupplyState(spec.codes[code]), f"{spec.name}={code}"
    return None


def supply_state(
    level: int | None, capacity: int | None, receptacle: bool, profile: Profile
) -> tuple[model.SupplyState, float | None, str | None]:
    """(state, percent, vendor_state) of one supply from its raw level and capacity.

    A receptacle's level is the space remaining (RFC 3805 prtMarkerSuppliesLevel), so its
    percent is how full it is: (capacity - level) / capacity.
    """
    S = model.SupplyState
    if level is None:
        return S.NOT_REPORTED, None, None
    if level in profile.quirks.level_codes:
        return S(profile.quirks.level_codes[level]), None, str(level)
    if level == -1:
        return S.UNRESTRICTED, None, None
    if level == -2:
        return S.UNKNOWN, None, None
    if level == -3:
        return S.SOME_REMAINING, None, None
    if level < 0:
        return S.VENDOR_CODE, None, str(level)
    if capacity is None or capacity <= 0:
        if level == 0:
            return (S.FULL if receptacle else S.EMPTY), None, None
        return S.SOME_REMAINING, None, None
    remaining = min(level, capacity) / capacity * 100.0
    if receptacle:
        fill = round(100.0 - remaining, 1)
        state = S.FULL if level == 0 else S.NEARLY_FULL if fill >= 90 else S.OK
        return state, fill, None
    percent = round(remaining, 1)
    if level == 0:
        return S.EMPTY, percent, None
    return (S.LOW if percent <= profile.quirks.low_percent else S.OK), percent, None


def _trays(device: _Device, profile: Profile) -> tuple[model.Supply, ...]:
    entry = mib.PRT_INPUT_ENTRY
    columns = {c: device.column(entry, c) for c in (2, 8, 9, 10, 12, 13, 18)}
    trays = []
    for index in sorted(set(columns[mib.INPUT_LEVEL]) | set(columns[mib.INPUT_NAME]),
                        key=oid_tuple):  # fmt: skip
        level = decode.integer(columns[mib.INPUT_LEVEL].get(index))
        capacity = decode.integer(columns[mib.INPUT_MAX_CAPACITY].get(index))
        state, percent, vendor_state = supply_state(level, capacity, False, profile)
        name = decode.text(columns[mib.INPUT_NAME].get(index))
        trays.append(
            model.Supply(
                index=int(index.rsplit(".", 1)[-1]),
                state=state,
                description=name or decode.text(columns[mib.INPUT_DESCRIPTION].get(index)),
                type=decode.enum_name(mib.INPUT_TYPES, columns[mib.INPUT_TYPE].get(index)),
                unit=decode.enum_name(mib.MEDIA_UNITS, columns[mib.INPUT_CAPACITY_UNIT].get(index)),
                raw_level=level,
                raw_max_capacity=capacity,
                percent=percent,
                vendor_state=vendor_state,
                part_number=decode.text(columns[mib.INPUT_MEDIA_NAME].get(index)),
            )
        )
    return tuple(trays)


def _alerts(device: _Device) -> tuple[model.Alert, ...]:
    entry = mib.PRT_ALERT_ENTRY
    columns = {c: device.column(entry, c) for c in range(2, 10)}
    alerts = []
    for index in sorted(set(columns[mib.ALERT_SEVERITY]) | set(columns[mib.ALERT_CODE]),
                        key=oid_tuple):  # fmt: skip
        alerts.append(
            model.Alert(
                index=int(index.rsplit(".", 1)[-1]),
                severity=decode.enum_name(
                    mib.ALERT_SEVERITIES, columns[mib.ALERT_SEVERITY].get(index)
                )
                or "unknown",
                code=decode.enum_name(mib.ALERT_CODES, columns[mib.ALERT_CODE].get(index))
                or "unknown",
                training_level=decode.enum_name(
                    mib.ALERT_TRAINING_LEVELS, columns[mib.ALERT_TRAINING].get(index)
                ),
                group=decode.enum_name(mib.ALERT_GROUPS, columns[mib.ALERT_GROUP].get(index)),
                group_index=decode.integer(columns[mib.ALERT_GROUP_INDEX].get(index)),
                location=decode.integer(columns[mib.ALERT_LOCATION].get(index)),
                description=decode.text(columns[mib.ALERT_DESCRIPTION].get(index)),
                time_ticks=decode.integer(columns[mib.ALERT_TIME].get(index)),
            )
        )
    return tuple(alerts)
