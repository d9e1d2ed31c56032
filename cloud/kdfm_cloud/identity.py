"""How a client certificate names an agent — the one place that defines it.

An agent certificate carries subject CN = agent id, subject O = tenant, and the URI SAN
`kdfm://tenant/<tenant>/agent/<agent_id>`. The URI SAN is authoritative (names, unlike
O=, are not reordered or re-encoded by CAs); CN and O must agree with it.

An operator (the Kubernetes operator, an admin tool) carries the URI SAN
`kdfm://operator/<name>` instead; it may call the admin API only, and only when the gateway's
`gateway.admin_identities` lists its name. One certificate is never both.
"""

from __future__ import annotations

import re

from cryptography import x509
from cryptography.x509.oid import NameOID

from kdfm_cloud.errors import IdentityError
from kdfm_cloud.store.repository import AgentKey

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_URI = re.compile(r"kdfm://tenant/(?P<tenant>[^/]+)/agent/(?P<agent>[^/]+)")
_OPERATOR_URI = re.compile(r"kdfm://operator/(?P<name>[^/]+)")


def check_name(kind: str, value: str) -> str:
    """A tenant or agent id: 1-128 of letters, digits, '.', '_', '-', not starting with a sign."""
    if not _NAME.fullmatch(value):
        raise IdentityError(f"{kind} {value!r} is not 1-128 characters of A-Z a-z 0-9 . _ -")
    return value


def agent_uri(agent: AgentKey) -> str:
    """The URI SAN of an agent's certificate."""
    check_name("tenant", agent.tenant)
    check_name("agent id", agent.agent_id)
    return f"kdfm://tenant/{agent.tenant}/agent/{agent.agent_id}"


def agent_subject(agent: AgentKey) -> x509.Name:
    """The subject of an agent's certificate: CN = agent id, O = tenant."""
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, agent.tenant),
        x509.NameAttribute(NameOID.COMMON_NAME, agent.agent_id),
    ])


def _kdfm_uri(certificate: x509.Certificate) -> str:
    """The one kdfm:// URI SAN of a client certificate; IdentityError when there is not one."""
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound as err:
        raise IdentityError("client certificate has no subjectAltName with a kdfm:// URI") from err
    uris = [u for u in san.get_values_for_type(x509.UniformResourceIdentifier)
            if u.startswith("kdfm://")]
    if len(uris) != 1:
        raise IdentityError(f"client certificate must carry exactly one kdfm:// URI, has {uris}")
    return uris[0]


def agent_from_certificate(certificate: x509.Certificate) -> AgentKey:
    """The agent a certificate names; IdentityError when it names none or disagrees with itself."""
    uri = _kdfm_uri(certificate)
    match = _URI.fullmatch(uri)
    if match is None:
        raise IdentityError(f"URI {uri!r} is not kdfm://tenant/<tenant>/agent/<agent_id>")
    agent = AgentKey(check_name("tenant", match["tenant"]),
                     check_name("agent id", match["agent"]))
    common_names = [a.value for a in certificate.subject.get_attributes_for_oid(
        NameOID.COMMON_NAME)]
    if common_names != [agent.agent_id]:
        raise IdentityError(f"certificate CN {common_names} does not match agent id "
                            f"{agent.agent_id!r} of its URI")
    organisations = [a.value for a in certificate.subject.get_attributes_for_oid(
        NameOID.ORGANIZATION_NAME)]
    if organisations and organisations != [agent.tenant]:
        raise IdentityError(f"certificate O {organisations} does not match tenant "
                            f"{agent.tenant!r} of its URI")
    return agent


def load_client_certificate(pem: bytes) -> x509.Certificate:
    """A PEM-encoded client certificate; IdentityError when it is not valid PEM."""
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError as err:
        raise IdentityError("client certificate is not valid PEM") from err


def operator_from_certificate(certificate: x509.Certificate) -> str:
    """The operator name a certificate carries; IdentityError when it names no operator."""
    uri = _kdfm_uri(certificate)
    match = _OPERATOR_URI.fullmatch(uri)
    if match is None:
        raise IdentityError(f"URI {uri!r} is not an operator identity "
                            "(kdfm://operator/<name>)")
    return check_name("operator name", match["name"])
