"""pysnmp/pyasn1 values as the plain types gufo-snmp gives, without importing pysnmp's hlapi.

The discovery sweep decodes its replies with pysnmp's protocol modules alone; importing the
high-level API as well (through the pysnmp back end) cost every `kdfm-agent` start ~120 ms.
"""

from __future__ import annotations

from typing import Any

from pyasn1.type import univ
from pysnmp.proto import rfc1902, rfc1905

from kdfm_agent import errors
from kdfm_agent.snmp.session import SnmpValue

_ABSENT = (rfc1905.NoSuchObject, rfc1905.NoSuchInstance, rfc1905.EndOfMibView, univ.Null)


def plain(value: Any) -> SnmpValue:
    """A pysnmp value as the plain type gufo-snmp would give (bytes, dotted str, int)."""
    if isinstance(value, _ABSENT):
        return None
    if isinstance(value, rfc1902.IpAddress):
        return ".".join(str(b) for b in value.asOctets())
    if isinstance(value, univ.OctetString):
        return bytes(value.asOctets())
    if isinstance(value, univ.ObjectIdentifier):
        return ".".join(str(n) for n in value)
    if isinstance(value, univ.Integer):
        return int(value)
    raise errors.SnmpMalformedReplyError("?", f"unexpected SNMP value type {type(value).__name__}")
