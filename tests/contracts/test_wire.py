"""The agent's frozen dataclasses and the kdfm.v1 messages convert both ways without loss."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest
from kdfm_agent import model, wire
from kdfm_proto.v1 import reading_pb2 as pb

PAIRS = [
    (model.Identity, pb.Identity),
    (model.Status, pb.Status),
    (model.Counter, pb.Counter),
    (model.Supply, pb.Supply),
    (model.Alert, pb.Alert),
    (model.DeviceError, pb.DeviceError),
    (model.Reading, pb.Reading),
]


@pytest.mark.parametrize(("cls", "message"), PAIRS, ids=lambda p: getattr(p, "__name__", ""))
def test_dataclass_and_message_have_the_same_fields(cls: type, message: type) -> None:
    ours = {f.name for f in dataclasses.fields(cls)}
    theirs = set(message.DESCRIPTOR.fields_by_name)
    assert ours == theirs


@pytest.mark.parametrize(("py_enum", "pb_enum", "prefix"), [
    (model.DeviceStatus, pb.DeviceStatus, "DEVICE_STATUS"),
    (model.PrinterStatus, pb.PrinterStatus, "PRINTER_STATUS"),
    (model.SupplyClass, pb.SupplyClass, "SUPPLY_CLASS"),
    (model.SupplyState, pb.SupplyState, "SUPPLY_STATE"),
])
def test_every_enum_member_has_a_wire_twin(py_enum: type, pb_enum: object, prefix: str) -> None:
    names = pb_enum.keys()  # type: ignore[attr-defined]
    wire_names = {n.removeprefix(prefix + "_") for n in names} - {"UNSPECIFIED"}
    assert {m.name for m in py_enum} == wire_names  # type: ignore[attr-defined]


def full_reading() -> model.Reading:
    supplies = tuple(
        model.Supply(
            index=i, state=state, supply_class=cls, description=f"Toner {i}", type="toner",
            colorant="black", unit="percent", raw_level=level, raw_max_capacity=100,
            percent=float(level) if level >= 0 else None,
            vendor_state="brother: near end" if state is model.SupplyState.VENDOR_CODE else None,
            part_number="CF410A", serial_number=f"CRUM-{i:08d}" if i % 2 else None,
        )
        for i, (state, cls, level) in enumerate(zip(
            model.SupplyState, itertools.cycle(model.SupplyClass),
            itertools.cycle([54, -1, -2, -3, 0, 100, -100]), strict=False), start=1)
    )
    return model.Reading(
        reading_id="0b7c8f0e-1f7e-4d7e-9d43-3f1f3f1f3f1f",
        target="127.0.0.1:16100",
        collected_at=datetime(2026, 11, 26, 16, 0, 1, 123456, tzinfo=UTC),
        identity=model.Identity(
            vendor="HP", model="Color LaserJet M452nw", serial_number="VNB3J99999",
            mac_address="94:57:a5:34:df:33", firmware="20180713",
            sys_object_id="1.3.6.1.4.1.11.2.3.9.1",
            sys_descr="HP ETHERNET MULTI-ENVIRONMENT", sys_name="hp1", location="2nd floor",
            contact="it@example.org",
        ),
        status=model.Status(
            device_status=model.DeviceStatus.WARNING, printer_status=model.PrinterStatus.IDLE,
            error_flags=("lowToner", "doorOpen"), raw_error_state=b"\x41\x00", summary="warning",
        ),
        counters=(
            model.Counter("total", 2**40, "impressions", "1.3.6.1.2.1.43.10.2.1.4.1.1"),
            model.Counter("power_on", 0, "hours", "1.3.6.1.4.1.11.2.3.9.4.2.1.1.1.0"),
        ),
        supplies=supplies,
        trays=(model.Supply(index=1, state=model.SupplyState.OK, type="sheetFeedAutoRemovableTray",
                            unit="sheets", raw_level=250, raw_max_capacity=500, percent=50.0),),
        alerts=(
            model.Alert(index=1, severity="warning", code="markerTonerAlmostEmpty",
                        training_level="untrained", group="markerSupplies", group_index=1,
                        location=0, description="Black low", time_ticks=185448527),
            model.Alert(index=2, severity="critical", code="jam"),
        ),
        errors=(model.DeviceError("timeout", "no answer after 2 tries", "1.3.6.1.2.1.43.18"),
                model.DeviceError("malformed_reply", "truncated BER")),
        address="127.0.0.1", hostname="printer-1.example.org", profile="hp", credential="site-v2c",
    )


def test_full_reading_round_trips() -> None:
    reading = full_reading()
    message = wire.reading_to_pb(reading)
    decoded = wire.reading_from_pb(pb.Reading.FromString(message.SerializeToString()))
    assert decoded == reading
    assert {s.state for s in decoded.supplies} == set(model.SupplyState)


def test_empty_reading_keeps_none_as_not_reported() -> None:
    reading = model.Reading(reading_id="r1", target="printer-1",
                            collected_at=datetime(2026, 1, 1, tzinfo=UTC),
                            supplies=(model.Supply(index=3, state=model.SupplyState.UNKNOWN,
                                                   raw_level=-2),))
    message = wire.reading_to_pb(reading)
    assert not message.identity.HasField("serial_number")
    assert not message.supplies[0].HasField("percent")
    assert message.supplies[0].raw_level == -2
    assert message.supplies[0].state == pb.SUPPLY_STATE_UNKNOWN
    assert wire.reading_from_pb(message) == reading


def test_zero_is_a_value_not_an_absence() -> None:
    supply = model.Supply(index=0, state=model.SupplyState.EMPTY, raw_level=0,
                          raw_max_capacity=0, percent=0.0)
    assert wire.supply_from_pb(wire.supply_to_pb(supply)) == supply


def test_collection_time_is_kept_in_utc() -> None:
    cet = timezone(timedelta(hours=1))
    local = datetime(2026, 11, 26, 17, 0, 0, 5, tzinfo=cet)
    reading = model.Reading(reading_id="r2", target="t", collected_at=local)
    back = wire.reading_from_pb(wire.reading_to_pb(reading))
    assert back.collected_at == local
    assert back.collected_at.tzinfo == UTC


def test_naive_time_is_refused() -> None:
    reading = model.Reading(reading_id="r3", target="t", collected_at=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        wire.reading_to_pb(reading)


@pytest.mark.parametrize("broken", [
    pb.Reading(target="t"),
    pb.Reading(reading_id="r", target="t"),
])
def test_incomplete_message_is_refused_with_the_field_named(broken: pb.Reading) -> None:
    with pytest.raises(ValueError, match=r"reading_id|collected_at"):
        wire.reading_from_pb(broken)


def test_supply_without_state_is_refused() -> None:
    msg = pb.Reading(reading_id="r", target="t", supplies=[pb.Supply(index=4)])
    msg.collected_at.FromDatetime(datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="supply 4 has no state"):
        wire.reading_from_pb(msg)
