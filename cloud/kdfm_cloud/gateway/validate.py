"""Why a reading would never be accepted: checked before storing, answered as `rejected`."""

from __future__ import annotations

from kdfm_proto.v1 import reading_pb2

MAX_ID_LENGTH = 128
# google.protobuf.Timestamp's own range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
_SECONDS_MIN, _SECONDS_MAX = -62_135_596_800, 253_402_300_799


def rejection(reading: reading_pb2.Reading) -> str | None:
    """The reason a reading is invalid, or None when it can be stored."""
    if not reading.reading_id:
        return "reading has no reading_id"
    if len(reading.reading_id) > MAX_ID_LENGTH:
        return f"reading_id is longer than {MAX_ID_LENGTH} characters"
    # The id is a key: unlike the other strings it cannot be cut or changed to fit the store,
    # and PostgreSQL refuses NUL in text (the whole upload would fail, again on every retry).
    if "\x00" in reading.reading_id:
        return "reading_id contains a NUL character"
    if not reading.HasField("collected_at"):
        return "reading has no collected_at"
    collected = reading.collected_at
    # Out of range it is no date at all; storing it would fail the whole upload, again and
    # again as the agent retries it.
    if not _SECONDS_MIN <= collected.seconds <= _SECONDS_MAX:
        return f"collected_at is outside the years 1 to 9999 (seconds={collected.seconds})"
    if not 0 <= collected.nanos < 1_000_000_000:
        return f"collected_at has nanos={collected.nanos}, not 0 to 999999999"
    if not reading.target:
        return "reading has no target"
    return None
