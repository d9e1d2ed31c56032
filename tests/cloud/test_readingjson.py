"""The fast JSON of a reading is exactly what protobuf's json_format writes."""

from __future__ import annotations

import json
import math

import pytest
from google.protobuf import json_format, struct_pb2
from kdfm_cloud.store.readingjson import UnsupportedFieldError, to_json
from kdfm_proto.v1 import gateway_pb2
from kdfm_proto.v1 import reading_pb2 as pb

from .kit import build_reading


def reference(message: pb.Reading) -> str:
    return json_format.MessageToJson(message, preserving_proto_field_name=True, indent=None)


def everything_set() -> pb.Reading:
    """A reading with every kind of field: bytes, enums (known and unknown), 64-bit, NaN."""
    reading = build_reading("all", serial="SN-Ü", toner_percent=None)
    reading.hostname = "printer-1"
    reading.status.device_status = pb.DEVICE_STATUS_WARNING
    reading.status.printer_status = pb.PRINTER_STATUS_PRINTING
    reading.status.error_flags.extend(["lowToner", "doorOpen"])
    reading.status.raw_error_state = b"\x01\x80\xff"
    reading.supplies[0].percent = math.nan
    reading.supplies.add(index=2, state=99, percent=math.inf, raw_level=-(2**40))  # type: ignore[arg-type]
    reading.alerts[0].time_ticks = 2**63 + 5
    reading.alerts[0].group_index = -1
    reading.errors.add(code="timeout", message="no answer", oid="1.3.6.1.2.1.43")
    reading.collected_at.nanos = 123_456_789
    return reading


@pytest.mark.parametrize("reading", [
    build_reading("plain"),
    build_reading("no-serial", serial=None, mac=None, toner_percent=None),
    pb.Reading(),
    everything_set(),
], ids=["plain", "sparse", "empty", "everything"])
def test_equal_to_json_format(reading: pb.Reading) -> None:
    assert to_json(reading) == reference(reading)
    assert json.loads(to_json(reading)) == json.loads(reference(reading))


def test_a_message_with_a_map_or_well_known_wrapper_is_refused() -> None:
    with pytest.raises(UnsupportedFieldError, match=r"map fields are not supported"):
        to_json(struct_pb2.Struct(fields={"a": struct_pb2.Value(number_value=1)}))
    # A message of the gateway contract without such fields works the same as json_format.
    task = gateway_pb2.Task(task_id="t", read_now=gateway_pb2.ReadNow(targets=["10.0.0.1"]))
    assert to_json(task) == json_format.MessageToJson(task, preserving_proto_field_name=True,
                                                      indent=None)
