"""Discovery sweep: one UDP socket asks every address of a range for its system group at once.

A session per address (a socket, a client, a retry loop each) makes a /22 cost 1024 sockets and
the concurrency limit turns 2 s of waiting into 30: silent addresses dominate a scan, and all
they need is their probes. Here every address gets a v1/v2c GET of sysObjectID and sysDescr from
one socket; replies are matched by source address and request id; an address that has not
answered after `timeout` is asked again, `retries` times; then it is given up. A silent address
costs exactly `retries + 1` datagrams and no CPU beyond encoding them.

Only addresses that answer go on to the full (session-based) printer check.
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pyasn1.codec.ber import decoder, encoder
from pyasn1.error import PyAsn1Error
from pysnmp.proto import api

from kdfm_agent.credentials import Community, SnmpVersion
from kdfm_agent.errors import AgentError, ConfigError
from kdfm_agent.snmp import printer_mib as mib
from kdfm_agent.snmp.pysnmp_backend import plain
from kdfm_agent.snmp.session import SnmpValue
from kdfm_agent.targets import SendGuard

SWEEP_OIDS = (mib.SYS_OBJECT_ID, mib.SYS_DESCR)
"""What each address is asked: enough to tell an SNMP agent and pick a profile."""


@dataclass(frozen=True, slots=True)
class SweepSettings:
    """How the sweep paces and repeats its probes."""

    timeout: float = 1.0
    """Seconds to wait for an address's reply before asking it again."""
    retries: int = 1
    """How many times an address that has not answered is asked again (0 = once)."""
    probes_per_second: float = 5000.0
    """Most datagrams sent per second, so a large range does not overflow a switch or buffer."""

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise ConfigError(f"sweep timeout must be positive, got {self.timeout}")
        if self.retries < 0:
            raise ConfigError(f"sweep retries must be 0 or more, got {self.retries}")
        if self.probes_per_second <= 0:
            raise ConfigError(f"probes_per_second must be positive, got {self.probes_per_second}")


class _Protocol(asyncio.DatagramProtocol):
    """Keeps the first reply of each awaited address that carries the sweep's request id."""

    def __init__(self, waiting: set[str], request_id: int, module: Any) -> None:
        self.waiting = waiting
        self.request_id = request_id
        self.module = module
        self.replies: dict[str, dict[str, SnmpValue]] = {}
        self.answered = asyncio.Event()

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        address = str(addr[0])
        if address not in self.waiting:
            return  # a late duplicate, or not ours
        proto = self.module
        try:
            message, _ = decoder.decode(data, asn1Spec=proto.Message())
            pdu = proto.apiMessage.get_pdu(message)
            if int(proto.apiPDU.get_request_id(pdu)) != self.request_id:
                return
            values = {str(oid): plain(value) for oid, value in proto.apiPDU.get_varbinds(pdu)}
        except (PyAsn1Error, AgentError, ValueError, TypeError):
            return  # garbage from an address is as good as silence here
        self.waiting.discard(address)
        self.replies[address] = {o: v for o, v in values.items() if v is not None}
        self.answered.set()

    def error_received(self, exc: Exception) -> None:
        # ICMP port-unreachable from one address must not stop the sweep of the others.
        return None


async def sweep(
    addresses: Iterable[str],
    community: Community,
    port: int,
    settings: SweepSettings,
    guard: SendGuard,
) -> dict[str, dict[str, SnmpValue]]:
    """{address: {oid: value}} of every address that answered `community`'s GET of SWEEP_OIDS."""
    targets = list(dict.fromkeys(addresses))
    for address in targets:
        guard.check(address)  # before any datagram: one refused address refuses the sweep
    if not targets:
        return {}
    module = api.PROTOCOL_MODULES[
        api.SNMP_VERSION_1 if community.version is SnmpVersion.V1 else api.SNMP_VERSION_2C
    ]
    # One request, encoded once, for every address: replies are told apart by their source.
    request_id = random.randint(1, 2**30)  # noqa: S311 - a request id, not a secret
    datagram = _request(module, community, request_id)
    waiting = set(targets)
    family = socket.AF_INET6 if ":" in targets[0] else socket.AF_INET
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: _Protocol(waiting, request_id, module), family=family
    )
    gap = 1.0 / settings.probes_per_second
    try:
        for _ in range(settings.retries + 1):
            round_targets = [a for a in targets if a in waiting]
            if not round_targets:
                break
            started = time.monotonic()
            for number, address in enumerate(round_targets):
                if address in waiting:  # may have answered while this round was being sent
                    transport.sendto(datagram, (address, port))
                ahead = started + (number + 1) * gap - time.monotonic()
                if ahead > 0.005:
                    await asyncio.sleep(ahead)  # pace in steps of a few ms, not per datagram
            # Every probe of this round gets its full timeout (the last one was sent just now).
            deadline = time.monotonic() + settings.timeout
            while waiting and (remaining := deadline - time.monotonic()) > 0:
                protocol.answered.clear()
                try:
                    await asyncio.wait_for(protocol.answered.wait(), remaining)
                except TimeoutError:
                    break
    finally:
        transport.close()
    return protocol.replies


def _request(module: Any, community: Community, request_id: int) -> bytes:
    pdu = module.GetRequestPDU()
    module.apiPDU.set_defaults(pdu)
    module.apiPDU.set_request_id(pdu, request_id)
    module.apiPDU.set_varbinds(pdu, [(oid, module.Null("")) for oid in SWEEP_OIDS])
    message = module.Message()
    module.apiMessage.set_defaults(message)
    module.apiMessage.set_community(message, community.community)
    module.apiMessage.set_pdu(message, pdu)
    return bytes(encoder.encode(message))
