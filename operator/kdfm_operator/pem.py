"""Read what the operator needs from PEM certificates and CRLs (parsing only, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509


@dataclass(frozen=True)
class CertificateInfo:
    """Validity and serial of one certificate."""

    not_before: datetime
    not_after: datetime
    serial: str
    common_name: str | None


def serial_text(serial: int) -> str:
    """A serial number the way Vault writes it: colon-separated lower-case hex bytes."""
    raw = f"{serial:x}"
    if len(raw) % 2:
        raw = "0" + raw
    return ":".join(raw[i : i + 2] for i in range(0, len(raw), 2))


def certificate_info(pem: str) -> CertificateInfo:
    """The first certificate in a PEM bundle; a malformed bundle raises ValueError."""
    cert = x509.load_pem_x509_certificate(pem.encode())
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return CertificateInfo(
        not_before=cert.not_valid_before_utc.astimezone(UTC),
        not_after=cert.not_valid_after_utc.astimezone(UTC),
        serial=serial_text(cert.serial_number),
        common_name=str(names[0].value) if names else None,
    )


def crl_serials(pem: str) -> set[str]:
    """Serials listed in a PEM CRL, in Vault's notation."""
    crl = x509.load_pem_x509_crl(pem.encode())
    return {serial_text(entry.serial_number) for entry in crl}
