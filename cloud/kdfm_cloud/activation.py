"""One-time activation codes: made here, shown once, stored only as a SHA-256 hash.

A code reads `<id>-<secret>`: the id (8 characters) finds the stored row, so that failures can be
counted against the code they aim at; the secret (32 characters, 160 bits) is what proves
possession. Both use an unambiguous alphabet (no 0/O, 1/I/L) so a code survives being read
over the phone. The whole code is hashed; the comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from kdfm_cloud.errors import ConfigError

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
ID_LENGTH = 8
SECRET_LENGTH = 32
_CODE = re.compile(
    rf"(?P<id>[{ALPHABET}]{{{ID_LENGTH}}})-(?P<secret>[{ALPHABET}]{{{SECRET_LENGTH}}})")
_DURATION = re.compile(r"(?P<count>\d+)(?P<unit>[smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass(frozen=True, slots=True)
class NewCode:
    """A freshly made code: the text handed to the dealer once, and what the store keeps."""

    code: str
    code_id: str
    code_hash: str


def _random(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def code_hash(code: str) -> str:
    """The stored form of a code: SHA-256, hex."""
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def new_code() -> NewCode:
    """A new random code."""
    code_id = _random(ID_LENGTH)
    code = f"{code_id}-{_random(SECRET_LENGTH)}"
    return NewCode(code, code_id, code_hash(code))


def code_id_of(code: str) -> str | None:
    """The id part of a well-formed code, None for anything else (upper-cased, trimmed)."""
    match = _CODE.fullmatch(normalise(code))
    return match["id"] if match else None


def normalise(code: str) -> str:
    """What people type: surrounding blanks and lower case are forgiven."""
    return code.strip().upper()


def matches(code: str, stored_hash: str) -> bool:
    """Whether `code` is the code whose hash is stored (constant-time comparison)."""
    return hmac.compare_digest(code_hash(normalise(code)), stored_hash)


def parse_duration(text: str) -> timedelta:
    """'7d', '12h', '30m', '90s', '2w' (or several: '1d12h') as a timedelta."""
    parts = list(_DURATION.finditer(text.strip()))
    if not parts or "".join(p.group(0) for p in parts) != text.strip():
        raise ConfigError(f"duration {text!r} is not like 7d, 12h, 30m, 90s or 1d12h")
    seconds = sum(int(p["count"]) * _UNITS[p["unit"]] for p in parts)
    if seconds <= 0:
        raise ConfigError(f"duration {text!r} must be longer than zero")
    return timedelta(seconds=seconds)
