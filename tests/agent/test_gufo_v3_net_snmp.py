"""gufo-snmp SNMPv3 against a real net-snmp agent, every auth/priv combination both support.

snmpsim selects recordings by SNMPv3 context, which gufo cannot send; net-snmp's snmpd answers
the default context, and its system group is all these tests need.
"""

from __future__ import annotations

import asyncio

import pytest
from kdfm_agent import errors
from kdfm_agent.credentials import AuthProtocol, PrivProtocol, UsmUser
from kdfm_agent.snmp import Backend, SessionSettings, open_session
from kdfm_agent.targets import Target

from .conftest import V3_AUTH_KEY, V3_PRIV_KEY, v3_user_name

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
COMBINATIONS = [(None, None)] + [(a, None) for a in AuthProtocol] + [
    (a, p) for a in AuthProtocol for p in PrivProtocol
]


def _credential(auth, priv, *, auth_key=V3_AUTH_KEY, priv_key=V3_PRIV_KEY) -> UsmUser:
    return UsmUser(
        user=v3_user_name(auth.value if auth else None, priv.value if priv else None),
        auth_protocol=auth,
        auth_key=auth_key if auth else None,
        priv_protocol=priv,
        priv_key=priv_key if priv else None,
    )


def _read(agent, credential: UsmUser) -> object:
    async def main():
        settings = SessionSettings(timeout=2, retries=1, backend=Backend.GUFO)
        target = Target("127.0.0.1", agent.port, "127.0.0.1")
        async with open_session(target, credential, settings) as session:
            assert type(session).__name__ == "GufoSession"
            return await session.get(SYS_DESCR)

    return asyncio.run(main())


@pytest.mark.snmp
@pytest.mark.parametrize(
    ("auth", "priv"), COMBINATIONS,
    ids=lambda p: p.value if p is not None else "none",
)  # fmt: skip
def test_gufo_reads_sys_descr_with_every_combination(net_snmp_agent, auth, priv):
    assert _read(net_snmp_agent, _credential(auth, priv)) == b"KDFM v3 test agent"


@pytest.mark.snmp
@pytest.mark.parametrize(
    ("auth", "priv", "wrong"),
    [(AuthProtocol.SHA256, None, "auth"), (AuthProtocol.SHA, PrivProtocol.AES128, "auth"),
     (AuthProtocol.SHA512, PrivProtocol.AES256, "priv")],
)  # fmt: skip
def test_a_wrong_key_is_a_clear_auth_error(net_snmp_agent, auth, priv, wrong):
    keys = {"auth_key": "not-the-auth-key"} if wrong == "auth" else {"priv_key": "not-the-priv"}
    with pytest.raises(errors.SnmpAuthError, match="SNMPv3 authentication failed"):
        _read(net_snmp_agent, _credential(auth, priv, **keys))
