"""Turning raw SNMP values into text, MAC addresses, bit sets and RFC 3805 enum names.

Printers send DisplayStrings with trailing NULs, in Latin-1, or (snmprec `4x`, some firmware)
as bytes that are themselves hex digits; every decoder here takes that into account.
"""

from __future__ import annotations

import re

from kdfm_agent.snmp.session import SnmpValue

_HEX_TEXT = re.compile(r"^(?:[0-9A-Fa-f]{2}[ :]?)+$")

ERROR_STATE_BITS = (
    "low_paper",
    "no_paper",
    "low_toner",
    "no_toner",
    "door_open",
    "jammed",
    "offline",
    "service_requested",
    "input_tray_missing",
    "output_tray_missing",
    "marker_supply_missing",
    "output_near_full",
    "output_full",
    "input_tray_empty",
    "overdue_prevent_maint",
)
"""hrPrinterDetectedErrorState bits, bit 0 = most significant bit of the first octet (RFC 3805)."""


def text(value: SnmpValue) -> str | None:
    """A DisplayString as text: NUL-terminated and padded values cut, empty -> None."""
    if value is None:
        return None
    if isinstance(value, bytes):
        raw = value.split(b"\x00", 1)[0]
        try:
            decoded = raw.decode("utf-8")
        except UnicodeDecodeError:
            # Printer firmware predating UTF-8 sends Latin-1 (Windows-1252 in practice).
            decoded = raw.decode("latin-1")
        # net-snmp captures wrap a long string as "text\nhex dump over several lines".
        head, newline, tail = decoded.partition("\n")
        dump = " ".join(tail.split())
        if newline and (undone := _unhex(dump, certain=True)) != dump:
            decoded = head + undone
        else:
            decoded = _unhex(decoded)
    else:
        decoded = str(value)
    if not decoded.isprintable():  # the common case, checked in C, needs no copy
        decoded = "".join(ch for ch in decoded if ch.isprintable())
    decoded = decoded.strip()
    return decoded or None


def _unhex(decoded: str, *, certain: bool = False) -> str:
    """Some agents hand out a DisplayString as its hex dump ("48 50 20 ..."); undo that."""
    compact = decoded.replace(" ", "").replace(":", "")
    if len(compact) >= 4 and len(compact) % 2 == 0 and _HEX_TEXT.match(decoded.strip()):
        try:
            candidate = bytes.fromhex(compact).split(b"\x00", 1)[0].decode("ascii")
        except (ValueError, UnicodeDecodeError):
            return decoded
        # Unless the layout proves it is a dump, only accept text with a word break:
        # "CAFE0042" stays a serial number.
        plain = candidate and all(ch.isprintable() for ch in candidate)
        if plain and (certain or " " in candidate.strip()):
            return candidate
    return decoded


def integer(value: SnmpValue) -> int | None:
    """An INTEGER/Counter/Gauge as int; a string of digits (broken firmware) too; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value.strip()):
        return int(value.strip())
    return None


def mac(value: SnmpValue) -> str | None:
    """ifPhysAddress as `aa:bb:cc:dd:ee:ff`; None unless it is exactly 6 non-zero octets."""
    if not isinstance(value, bytes):
        return None
    octets = value
    if len(value) in (12, 17):
        # Hex text instead of raw octets ("001122AABBCC" or "00:11:22:aa:bb:cc").
        try:
            octets = bytes.fromhex(value.decode("ascii").replace(":", "").replace("-", ""))
        except (UnicodeDecodeError, ValueError):
            return None
    if len(octets) != 6 or octets == b"\x00" * 6:
        return None
    return ":".join(f"{b:02x}" for b in octets)


def oid(value: SnmpValue) -> str | None:
    """An OBJECT IDENTIFIER dotted, without a leading dot."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    result = str(value).strip().lstrip(".")
    return result or None


def error_bits(value: SnmpValue) -> tuple[str, ...]:
    """Names of the hrPrinterDetectedErrorState bits set; 1 or 2 octets (more are ignored)."""
    if not isinstance(value, bytes):
        return ()
    names: list[str] = []
    for octet_index, octet in enumerate(value[:2]):
        for bit in range(8):
            if octet & (0x80 >> bit):
                position = octet_index * 8 + bit
                names.append(
                    ERROR_STATE_BITS[position]
                    if position < len(ERROR_STATE_BITS)
                    else f"bit_{position}"
                )
    return tuple(names)


def enum_name(table: dict[int, str], value: SnmpValue) -> str | None:
    """The RFC name of an enumerated INTEGER, `other(<n>)` for numbers the RFC does not define."""
    number = integer(value)
    if number is None:
        return None
    return table.get(number, f"other({number})")
