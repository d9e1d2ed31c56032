"""SNMP credentials: a v1/v2c community or an SNMPv3 USM user, tried in the order given."""

from __future__ import annotations

import argparse
import enum
import hashlib
from dataclasses import dataclass, replace

from kdfm_agent.errors import ConfigError


class SnmpVersion(enum.Enum):
    """The SNMP protocol version a credential speaks."""

    V1 = "1"
    V2C = "2c"
    V3 = "3"


class AuthProtocol(enum.Enum):
    """SNMPv3 authentication protocols both back ends support."""

    MD5 = "MD5"
    SHA = "SHA"
    SHA224 = "SHA224"
    SHA256 = "SHA256"
    SHA384 = "SHA384"
    SHA512 = "SHA512"


class PrivProtocol(enum.Enum):
    """SNMPv3 privacy protocols both back ends support."""

    DES = "DES"
    AES128 = "AES128"
    AES192 = "AES192"
    AES256 = "AES256"


@dataclass(frozen=True, slots=True)
class Community:
    """A v1/v2c community string."""

    community: str = "public"
    """The community string sent in clear in every packet."""
    version: SnmpVersion = SnmpVersion.V2C
    """SNMP version to speak with this community (v2c unless the device only knows v1)."""

    @property
    def label(self) -> str:
        """A name for reports that does not reveal the secret."""
        return f"v{self.version.value}:community#{_fingerprint(self.community)}"

    def with_context(self, context: str) -> Community:
        """The same credential for an SNMP context; v1/v2c index it as `community@context`."""
        return Community(community=f"{self.community}@{context}", version=self.version)


@dataclass(frozen=True, slots=True)
class UsmUser:
    """An SNMPv3 user-based security model identity, with the context to read."""

    user: str
    """USM user name."""
    auth_protocol: AuthProtocol | None = None
    """Authentication protocol; None means noAuthNoPriv."""
    auth_key: str | None = None
    """Authentication pass phrase (at least 8 characters)."""
    priv_protocol: PrivProtocol | None = None
    """Privacy protocol; None means no encryption."""
    priv_key: str | None = None
    """Privacy pass phrase (at least 8 characters)."""
    context: str = ""
    """SNMPv3 context name; empty is the default context."""

    def __post_init__(self) -> None:
        if (self.auth_protocol is None) != (self.auth_key is None):
            raise ConfigError(f"SNMPv3 user {self.user!r}: give both an auth protocol and key")
        if (self.priv_protocol is None) != (self.priv_key is None):
            raise ConfigError(f"SNMPv3 user {self.user!r}: give both a priv protocol and key")
        if self.priv_protocol is not None and self.auth_protocol is None:
            raise ConfigError(f"SNMPv3 user {self.user!r}: privacy needs authentication too")
        for name, key in (("auth", self.auth_key), ("priv", self.priv_key)):
            if key is not None and len(key) < 8:
                raise ConfigError(
                    f"SNMPv3 user {self.user!r}: the {name} key must be at least 8 characters"
                )

    @property
    def version(self) -> SnmpVersion:
        """Always SNMPv3."""
        return SnmpVersion.V3

    @property
    def label(self) -> str:
        """A name for reports that does not reveal the keys."""
        suffix = f"@{self.context}" if self.context else ""
        return f"v3:{self.user}{suffix}"

    def with_context(self, context: str) -> UsmUser:
        """The same user reading another SNMPv3 context."""
        return replace(self, context=context)


Credential = Community | UsmUser


def _fingerprint(secret: str) -> str:
    # A short stable digest lets reports say "the second community answered" without the secret.
    return hashlib.sha256(secret.encode()).hexdigest()[:8]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The credential options shared by `read` and `scan`."""
    group = parser.add_argument_group("SNMP credentials (tried in the order given)")
    group.add_argument("--community", action="append", metavar="C",
                       help="v2c community; repeat to try several (default: public)")  # fmt: skip
    group.add_argument("--snmp-v1", action="store_true", help="speak SNMPv1 with the communities")
    group.add_argument("--v3-user", metavar="U", help="SNMPv3 user name")
    group.add_argument("--v3-auth-proto", metavar="P", choices=[p.value for p in AuthProtocol])
    group.add_argument("--v3-auth-key", metavar="K")
    group.add_argument("--v3-priv-proto", metavar="P", choices=[p.value for p in PrivProtocol])
    group.add_argument("--v3-priv-key", metavar="K")
    group.add_argument("--v3-context", metavar="C", default="", help="SNMPv3 context name")


def from_arguments(args: argparse.Namespace) -> list[Credential]:
    """The ordered credential list the options describe (v3 user first when given)."""
    credentials: list[Credential] = []
    if args.v3_user:
        credentials.append(
            UsmUser(
                user=args.v3_user,
                auth_protocol=AuthProtocol(args.v3_auth_proto) if args.v3_auth_proto else None,
                auth_key=args.v3_auth_key,
                priv_protocol=PrivProtocol(args.v3_priv_proto) if args.v3_priv_proto else None,
                priv_key=args.v3_priv_key,
                context=args.v3_context,
            )
        )
    elif any((args.v3_auth_proto, args.v3_auth_key, args.v3_priv_proto, args.v3_priv_key)):
        raise ConfigError("SNMPv3 options given without --v3-user")
    version = SnmpVersion.V1 if args.snmp_v1 else SnmpVersion.V2C
    communities = args.community or ([] if credentials else ["public"])
    credentials.extend(Community(community=c, version=version) for c in communities)
    return credentials
