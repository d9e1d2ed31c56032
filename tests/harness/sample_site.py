"""A small sample site the project ships: synthetic printers written as .snmprec files.

Used where the real recordings ($KDFM_RECORDINGS) are absent, such as a fresh checkout running
`make demo`. The data is our own, written from the structure of RFC 3805 (Printer-MIB) and
RFC 2790 (HOST-RESOURCES-MIB), not captured from any device: the system group, an ifTable with
a MAC, hrDevice/hrPrinter, prtGeneralSerialNumber, prtMarkerLifeCount, a supplies table with a
level of -3 ("some remaining") and -2 ("unknown"), a waste receptacle, colorants, an input tray
and an alert. sysObjectID sits under enterprise 32473, which RFC 5612 reserves for
documentation, so only the generic profile matches and no vendor quirk applies.

    python -m harness.sample_site DIR      # write the files into DIR (PYTHONPATH=tests)
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.snmpsim import RECORDING_SUFFIX

DOCUMENTATION_ENTERPRISE = "1.3.6.1.4.1.32473"
"""RFC 5612's enterprise number for documentation: no real vendor, so no vendor profile."""

# SNMP types as snmprec writes them (snmpsim's grammar).
INTEGER, OCTETS, HEX, OID, COUNTER32, TIMETICKS = "2", "4", "4x", "6", "65", "67"

# Enumerations of RFC 3805 used below.
CLASS_CONSUMED, CLASS_RECEPTACLE = 3, 4
TYPE_TONER, TYPE_WASTE_TONER, TYPE_OPC = 3, 4, 9
UNIT_IMPRESSIONS, UNIT_SHEETS, UNIT_TENTHS_OF_GRAMS, UNIT_PERCENT = 7, 8, 13, 19
LEVEL_UNKNOWN, LEVEL_SOME_REMAINING = -2, -3


@dataclass(frozen=True)
class SampleSupply:
    """One row of prtMarkerSuppliesTable (levels as RFC 3805 encodes them, -3 and -2 included)."""

    description: str
    supply_type: int
    max_capacity: int
    level: int
    supply_class: int = CLASS_CONSUMED
    colorant: str | None = None
    unit: int = UNIT_PERCENT


@dataclass(frozen=True)
class SampleAlert:
    """One row of prtAlertTable."""

    severity: int
    code: int
    description: str
    group: int = 5
    group_index: int = 1
    training: int = 4


@dataclass(frozen=True)
class SamplePrinter:
    """One synthetic printer; `stem` names its recording file."""

    stem: str
    model: str
    serial_number: str
    mac: str
    life_count: int
    supplies: tuple[SampleSupply, ...]
    alerts: tuple[SampleAlert, ...] = ()
    tray_capacity: int = 250
    tray_level: int = LEVEL_SOME_REMAINING
    # hrDeviceStatus running(2) / warning(3); hrPrinterStatus idle(3); no error bits.
    device_status: int = 2
    sys_object_id: str | None = None
    """sysObjectID; None: one under the documentation enterprise (no vendor profile matches)."""
    vendor_objects: tuple[tuple[str, str, object], ...] = ()
    """Further (OID, snmprec type, value) rows, e.g. a vendor MIB's objects a test needs."""


SAMPLE_PRINTERS: tuple[SamplePrinter, ...] = (
    SamplePrinter(
        stem="sample_mono-laser",
        model="KDFM Sample Mono Laser S100",
        serial_number="KDFMSAMPLE0001",
        mac="02:00:5e:10:00:01",
        life_count=12_345,
        supplies=(
            SampleSupply("Black Toner Cartridge", TYPE_TONER, -2, LEVEL_SOME_REMAINING,
                         colorant="black"),
            SampleSupply("Drum Unit", TYPE_OPC, 12_000, LEVEL_UNKNOWN, unit=UNIT_IMPRESSIONS),
        ),
    ),
    SamplePrinter(
        stem="sample_color-mfp",
        model="KDFM Sample Color MFP C200",
        serial_number="KDFMSAMPLE0002",
        mac="02:00:5e:10:00:02",
        life_count=87_654,
        supplies=(
            SampleSupply("Cyan Toner", TYPE_TONER, 100, 64, colorant="cyan"),
            SampleSupply("Magenta Toner", TYPE_TONER, 100, 5, colorant="magenta"),
            SampleSupply("Yellow Toner", TYPE_TONER, 100, 0, colorant="yellow"),
            SampleSupply("Black Toner", TYPE_TONER, 100, LEVEL_SOME_REMAINING,
                         colorant="black"),
            SampleSupply("Waste Toner Box", TYPE_WASTE_TONER, 100, LEVEL_UNKNOWN,
                         supply_class=CLASS_RECEPTACLE),
        ),
        # tonerEmpty (1101) of the marker supplies group (11), and a door open (501, cover 6).
        alerts=(SampleAlert(severity=3, code=1101, description="Yellow toner empty",
                            group=11, group_index=3),
                SampleAlert(severity=4, code=501, description="Front cover open", group=6)),
        tray_capacity=500,
        tray_level=320,
        device_status=3,
    ),
    SamplePrinter(
        stem="sample_workgroup-laser",
        model="KDFM Sample Workgroup Laser W300",
        serial_number="KDFMSAMPLE0003",
        mac="02:00:5e:10:00:03",
        life_count=250_001,
        supplies=(
            SampleSupply("Black Toner", TYPE_TONER, 20_000, 15_000, colorant="black",
                         unit=UNIT_IMPRESSIONS),
            SampleSupply("Waste Toner Container", TYPE_WASTE_TONER, -2, LEVEL_SOME_REMAINING,
                         supply_class=CLASS_RECEPTACLE),
        ),
    ),
)
"""The sample site: a mono laser, a colour MFP with an alert, a workgroup laser."""


def _oid_key(line: str) -> tuple[int, ...]:
    return tuple(int(part) for part in line.split("|", 1)[0].split("."))


def _colorants(printer: SamplePrinter) -> list[str]:
    names: list[str] = []
    for supply in printer.supplies:
        if supply.colorant is not None and supply.colorant not in names:
            names.append(supply.colorant)
    return names


def snmprec_lines(printer: SamplePrinter) -> list[str]:
    """The printer's MIB as snmprec lines (`OID|TYPE|VALUE`), sorted by OID as snmpsim needs."""
    rows: list[tuple[str, str, object]] = [
        ("1.3.6.1.2.1.1.1.0", OCTETS, f"{printer.model}, sample firmware 1.0 (synthetic)"),
        ("1.3.6.1.2.1.1.2.0", OID, printer.sys_object_id
         or f"{DOCUMENTATION_ENTERPRISE}.1.{printer.serial_number[-1]}"),
        ("1.3.6.1.2.1.1.3.0", TIMETICKS, 8_640_000),
        ("1.3.6.1.2.1.1.4.0", OCTETS, "it@example.net"),
        ("1.3.6.1.2.1.1.5.0", OCTETS, printer.stem.replace("_", "-")),
        ("1.3.6.1.2.1.1.6.0", OCTETS, "Sample site, floor 1"),
        # ifTable: a loopback (type 24, no MAC) and the Ethernet port (type 6) with its MAC.
        ("1.3.6.1.2.1.2.1.0", INTEGER, 2),
        ("1.3.6.1.2.1.2.2.1.1.1", INTEGER, 1),
        ("1.3.6.1.2.1.2.2.1.1.2", INTEGER, 2),
        ("1.3.6.1.2.1.2.2.1.2.1", OCTETS, "lo0"),
        ("1.3.6.1.2.1.2.2.1.2.2", OCTETS, "eth0"),
        ("1.3.6.1.2.1.2.2.1.3.1", INTEGER, 24),
        ("1.3.6.1.2.1.2.2.1.3.2", INTEGER, 6),
        ("1.3.6.1.2.1.2.2.1.6.1", HEX, ""),
        ("1.3.6.1.2.1.2.2.1.6.2", HEX, printer.mac.replace(":", "")),
        # hrDeviceTable row 1 is the printer; hrPrinterTable: idle, no error bits.
        ("1.3.6.1.2.1.25.3.2.1.1.1", INTEGER, 1),
        ("1.3.6.1.2.1.25.3.2.1.2.1", OID, "1.3.6.1.2.1.25.3.1.5"),
        ("1.3.6.1.2.1.25.3.2.1.3.1", OCTETS, printer.model),
        ("1.3.6.1.2.1.25.3.2.1.4.1", OID, "0.0"),
        ("1.3.6.1.2.1.25.3.2.1.5.1", INTEGER, printer.device_status),
        ("1.3.6.1.2.1.25.3.2.1.6.1", COUNTER32, 0),
        ("1.3.6.1.2.1.25.3.5.1.1.1", INTEGER, 3),
        ("1.3.6.1.2.1.25.3.5.1.2.1", HEX, "00"),
        ("1.3.6.1.2.1.43.5.1.1.17.1", OCTETS, printer.serial_number),
        # prtInputTable: one removable tray of plain A4 sheets.
        ("1.3.6.1.2.1.43.8.2.1.2.1.1", INTEGER, 3),
        ("1.3.6.1.2.1.43.8.2.1.8.1.1", INTEGER, UNIT_SHEETS),
        ("1.3.6.1.2.1.43.8.2.1.9.1.1", INTEGER, printer.tray_capacity),
        ("1.3.6.1.2.1.43.8.2.1.10.1.1", INTEGER, printer.tray_level),
        ("1.3.6.1.2.1.43.8.2.1.12.1.1", OCTETS, "A4 plain"),
        ("1.3.6.1.2.1.43.8.2.1.13.1.1", OCTETS, "TRAY1"),
        ("1.3.6.1.2.1.43.8.2.1.18.1.1", OCTETS, "Tray 1"),
        # prtMarkerTable: the life count in impressions.
        ("1.3.6.1.2.1.43.10.2.1.3.1.1", INTEGER, UNIT_IMPRESSIONS),
        ("1.3.6.1.2.1.43.10.2.1.4.1.1", COUNTER32, printer.life_count),
        ("1.3.6.1.2.1.43.10.2.1.5.1.1", COUNTER32, printer.life_count // 10),
    ]
    colorants = _colorants(printer)
    for index, supply in enumerate(printer.supplies, start=1):
        entry = f"1.3.6.1.2.1.43.11.1.1.{{}}.1.{index}"
        colorant = colorants.index(supply.colorant) + 1 if supply.colorant is not None else 0
        rows += [
            (entry.format(1), INTEGER, index),
            (entry.format(2), INTEGER, 1),
            (entry.format(3), INTEGER, colorant),
            (entry.format(4), INTEGER, supply.supply_class),
            (entry.format(5), INTEGER, supply.supply_type),
            (entry.format(6), OCTETS, supply.description),
            (entry.format(7), INTEGER, supply.unit),
            (entry.format(8), INTEGER, supply.max_capacity),
            (entry.format(9), INTEGER, supply.level),
        ]
    for index, name in enumerate(colorants, start=1):
        rows += [(f"1.3.6.1.2.1.43.12.1.1.2.1.{index}", INTEGER, 1),
                 (f"1.3.6.1.2.1.43.12.1.1.3.1.{index}", INTEGER, 3),
                 (f"1.3.6.1.2.1.43.12.1.1.4.1.{index}", OCTETS, name)]
    for index, alert in enumerate(printer.alerts, start=1):
        entry = f"1.3.6.1.2.1.43.18.1.1.{{}}.1.{index}"
        rows += [
            (entry.format(2), INTEGER, alert.severity),
            (entry.format(3), INTEGER, alert.training),
            (entry.format(4), INTEGER, alert.group),
            (entry.format(5), INTEGER, alert.group_index),
            (entry.format(6), INTEGER, 0),
            (entry.format(7), INTEGER, alert.code),
            (entry.format(8), OCTETS, alert.description),
            (entry.format(9), TIMETICKS, 8_600_000),
        ]
    rows += printer.vendor_objects
    return sorted((f"{oid}|{kind}|{value}" for oid, kind, value in rows), key=_oid_key)


def write_sample_site(directory: Path,
                      printers: Sequence[SamplePrinter] = SAMPLE_PRINTERS) -> tuple[Path, ...]:
    """Write one `<stem>.snmprec` per printer into `directory`; answers the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for printer in printers:
        path = directory / f"{printer.stem}{RECORDING_SUFFIX}"
        path.write_text("\n".join(snmprec_lines(printer)) + "\n")
        written.append(path)
    return tuple(written)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m harness.sample_site DIR", file=sys.stderr)
        return 2
    for path in write_sample_site(Path(args[0])):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
