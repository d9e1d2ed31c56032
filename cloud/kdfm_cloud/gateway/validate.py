"""Why a reading would never be accepted: checked before storing, answered as `rejected`."""

from __future__ import annotations

from kdfm_proto.v1 import reading_pb2

MAX_ID_LENGTH = 128


def rejection(reading: reading_pb2.Reading) -> str | None:
    """The reason a reading is invalid, or None when it can be stored."""
    if not reading.reading_id:
        return "reading has no reading_id"
    if len(reading.reading_id) > MAX_ID_LENGTH:
        return f"reading_id is longer than {MAX_ID_LENGTH} characters"
    if not reading.HasField("collected_at"):
        return "reading has no collected_at"
    if not reading.target:
        return "reading has no target"
    return None
