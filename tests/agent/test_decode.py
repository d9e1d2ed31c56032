"""Decoding what printers send (pure)."""

from __future__ import annotations

import pytest
from kdfm_agent import decode


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"Black Toner\x00\x00\x00", "Black Toner"),
        (b"  padded  ", "padded"),
        (b"", None),
        (b"\x00garbage after NUL", None),
        (b"Caf\xe9", "Café"),  # Latin-1 firmware
        (b"48 50 20 4C 61 73 65 72 4A 65 74 00", "HP LaserJet"),  # hex dump of text
        (b"CAFE0042", "CAFE0042"),  # a hex-looking serial stays as is
        (b"Clean Rollers HP\n20 4E 6F 6E 65 00", "Clean Rollers HP None"),  # wrapped capture
        (12, "12"),
        (None, None),
    ],
)
def test_text(raw, expected):
    assert decode.text(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"\x00\x11\x22\xaa\xbb\xcc", "00:11:22:aa:bb:cc"),
        (b"001122AABBCC", "00:11:22:aa:bb:cc"),
        (b"00:11:22:aa:bb:cc", "00:11:22:aa:bb:cc"),
        (b"\x00" * 6, None),
        (b"", None),
        (b"\x01\x02\x03", None),
    ],
)
def test_mac(raw, expected):
    assert decode.mac(raw) == expected


def test_error_bits_one_octet():
    # 0x20 = bit 2 (lowToner); 0x88 = bits 0 and 4 (lowPaper, doorOpen).
    assert decode.error_bits(b"\x20") == ("low_toner",)
    assert decode.error_bits(b"\x88") == ("low_paper", "door_open")
    assert decode.error_bits(b"\x00") == ()


def test_error_bits_two_octets():
    assert decode.error_bits(b"\x00\x80") == ("input_tray_missing",)
    assert decode.error_bits(b"\x01\x02") == ("service_requested", "overdue_prevent_maint")
    assert decode.error_bits(b"\x00\x01") == ("bit_15",)


def test_integer_accepts_numeric_strings_only():
    assert decode.integer(5) == 5
    assert decode.integer(b"-3") == -3
    assert decode.integer(b"lots") is None
    assert decode.integer(True) is None


def test_enum_name_keeps_unknown_numbers():
    assert decode.enum_name({3: "toner"}, 3) == "toner"
    assert decode.enum_name({3: "toner"}, 77) == "other(77)"
    assert decode.enum_name({3: "toner"}, None) is None
