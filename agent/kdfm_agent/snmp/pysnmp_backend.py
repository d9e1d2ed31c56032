"""The pysnmp 7 back end: the reference implementation, and the one that reads SNMPv3 contexts.

pysnmp's own retries are switched off (retries=0) so that the shared retry loop in
`SnmpSession._retrying` decides, the same way for both back ends. MIB lookup is off: values stay
raw and are converted to the same plain types gufo-snmp returns.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from typing import Any

from pyasn1.error import PyAsn1Error
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
    bulk_cmd,
    get_cmd,
    next_cmd,
)
from pysnmp.hlapi.v3arch.asyncio import auth as usm
from pysnmp.proto import errind, rfc1905

from kdfm_agent import errors
from kdfm_agent.credentials import AuthProtocol, Community, PrivProtocol, SnmpVersion, UsmUser
from kdfm_agent.snmp.session import SnmpSession, SnmpValue
from kdfm_agent.snmp.values import plain

_AUTH: dict[AuthProtocol, Any] = {
    AuthProtocol.MD5: usm.USM_AUTH_HMAC96_MD5,
    AuthProtocol.SHA: usm.USM_AUTH_HMAC96_SHA,
    AuthProtocol.SHA224: usm.USM_AUTH_HMAC128_SHA224,
    AuthProtocol.SHA256: usm.USM_AUTH_HMAC192_SHA256,
    AuthProtocol.SHA384: usm.USM_AUTH_HMAC256_SHA384,
    AuthProtocol.SHA512: usm.USM_AUTH_HMAC384_SHA512,
}
_PRIV: dict[PrivProtocol, Any] = {
    PrivProtocol.DES: usm.USM_PRIV_CBC56_DES,
    PrivProtocol.AES128: usm.USM_PRIV_CFB128_AES,
    PrivProtocol.AES192: usm.USM_PRIV_CFB192_AES_BLUMENTHAL,
    PrivProtocol.AES256: usm.USM_PRIV_CFB256_AES_BLUMENTHAL,
}
_AUTH_FAILURES = (
    errind.UnknownUserName,
    errind.WrongDigest,
    errind.AuthenticationFailure,
    errind.DecryptionError,
    errind.UnsupportedSecurityLevel,
    errind.UnknownEngineID,
)


class PysnmpSession(SnmpSession):
    """`SnmpSession` on pysnmp 7 (asyncio high-level API)."""

    _engine: SnmpEngine | None = None
    _transport: Any = None
    _auth_data: Any = None
    """The credential as pysnmp takes it; built once per session, not per request."""
    _context_data: ContextData | None = None

    def _auth(self) -> Any:
        credential = self.credential
        if isinstance(credential, Community):
            model = 0 if credential.version is SnmpVersion.V1 else 1
            return CommunityData(credential.community, mpModel=model)
        return UsmUserData(
            credential.user,
            authKey=credential.auth_key,
            privKey=credential.priv_key,
            authProtocol=_AUTH[credential.auth_protocol] if credential.auth_protocol else None,
            privProtocol=_PRIV[credential.priv_protocol] if credential.priv_protocol else None,
        )

    def _context(self) -> ContextData:
        if isinstance(self.credential, UsmUser) and self.credential.context:
            return ContextData(contextName=self.credential.context)
        return ContextData()

    async def _open(self) -> None:
        self._auth_data = self._auth()
        self._context_data = self._context()
        self._engine = SnmpEngine()
        self._transport = await UdpTransportTarget.create(
            (self.address, self.target.port), timeout=self.settings.timeout, retries=0
        )

    async def _close(self) -> None:
        if self._engine is not None:
            self._engine.close_dispatcher()
            self._engine = None

    async def _request(self, command: Any, *args: Any) -> list[Any]:
        if self._engine is None:
            raise errors.ConfigError("the SNMP session is used outside its `async with` block")
        try:
            indication, status, index, var_binds = await command(
                self._engine,
                self._auth_data,
                self._transport,
                self._context_data,
                *args,
                lookupMib=False,
            )
        except PyAsn1Error as err:
            raise errors.SnmpMalformedReplyError(
                self.target.label, f"the reply is not valid SNMP: {err}"
            ) from err
        if indication:
            if isinstance(indication, errind.RequestTimedOut):
                raise TimeoutError(str(indication))
            if isinstance(indication, _AUTH_FAILURES):
                raise errors.SnmpAuthError(
                    self.target.label, f"SNMPv3 authentication failed: {indication}"
                )
            raise errors.SnmpError(self.target.label, f"SNMP request failed: {indication}")
        if status:
            if str(status.prettyPrint()) == "noSuchName":
                # SNMPv1 answers a GET with one missing object by failing the whole request.
                raise errors.SnmpNoSuchNameError(
                    self.target.label, "the device lacks a requested object"
                )
            raise errors.SnmpError(
                self.target.label, f"the device answered {status.prettyPrint()} at #{index}"
            )
        return list(var_binds)

    async def _get_many_once(self, oids: list[str]) -> dict[str, SnmpValue]:
        try:
            var_binds = await self._request(get_cmd, *(ObjectType(ObjectIdentity(o)) for o in oids))
        except errors.SnmpNoSuchNameError:
            if len(oids) == 1:
                return {}
            # v1: ask one by one so that one missing object does not hide the others.
            result: dict[str, SnmpValue] = {}
            for oid in oids:
                result.update(await self._get_many_once([oid]))
            return result
        result = {}
        for name, value in var_binds:
            converted = plain(value)
            if converted is not None:
                result[str(name)] = converted
        return result

    async def _walk_pages(
        self, oid: str, bulk: bool, repetitions: int
    ) -> AsyncIterator[list[tuple[str, SnmpValue]]]:
        cursor = oid
        use_bulk = bulk and self.credential.version is not SnmpVersion.V1
        while True:
            start = cursor
            if use_bulk:
                request = functools.partial(
                    self._request,
                    bulk_cmd,
                    0,
                    repetitions,
                    ObjectType(ObjectIdentity(start)),
                )
                page = await self._retrying(request)
            else:
                request = functools.partial(
                    self._request, next_cmd, ObjectType(ObjectIdentity(start))
                )
                try:
                    page = await self._retrying(request)
                except errors.SnmpNoSuchNameError:
                    return  # v1 end of MIB view
            if not page:
                return
            rows: list[tuple[str, SnmpValue]] = []
            for name, value in page:
                if isinstance(value, rfc1905.EndOfMibView):
                    break
                cursor = str(name)
                rows.append((cursor, plain(value)))
            if rows:
                yield rows
            if len(rows) < len(page):
                return
