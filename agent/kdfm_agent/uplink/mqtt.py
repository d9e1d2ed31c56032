"""`async with NudgeListener(...)`: the agent's MQTT connection, which carries nudges only.

A nudge says "poll now" and nothing else: no data and no secrets travel over MQTT. The agent
subscribes to its own nudge topic only, announces itself on its status topic ("online",
retained) and leaves a last will "offline". paho runs its network loop in its own thread and
reconnects with backoff; callbacks hop onto the asyncio loop with call_soon_threadsafe.

Through an HTTPS proxy (`gateway.proxy`, else the environment, as gRPC decides: see
`uplink.proxy`) the connection is an HTTP CONNECT tunnel with TLS and WebSockets inside it. A
proxy that is down or refuses the tunnel is logged as an error naming the proxy, and paho tries
again with backoff; polling over gRPC goes on regardless.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable
from types import TracebackType
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from kdfm_agent.errors import ConfigError
from kdfm_agent.settings import MqttSettings
from kdfm_agent.uplink.errors import UplinkError
from kdfm_agent.uplink.proxy import HttpProxy, ProxyError, open_tunnel, proxy_for

log = logging.getLogger(__name__)

ONLINE = b"online"
OFFLINE = b"offline"


def nudge_topic(tenant: str, agent_id: str) -> str:
    """Where the cloud nudges this agent (the cloud's kdfm_cloud.nudge spells it the same)."""
    return f"kdfm/v1/{tenant}/agents/{agent_id}/nudge"


def status_topic(tenant: str, agent_id: str) -> str:
    """Where this agent says whether it is online (retained; the last will says offline)."""
    return f"kdfm/v1/{tenant}/agents/{agent_id}/status"


class _Client(mqtt.Client):
    """paho's client, dialling through an HTTP CONNECT tunnel when a proxy is set.

    paho 2.2 reaches HTTP proxies only through PySocks, and it does so in
    `_create_socket_connection`, its one place that opens the TCP connection. Tunnelling there
    leaves TLS, WebSockets, keep-alive and reconnection to paho. paho is pinned in pyproject,
    and tests/uplink/test_proxy.py fails should the hook move.
    """

    def __init__(self, *args: Any, broker: tuple[str, int], proxy: HttpProxy | None,
                 on_failure: Callable[[OSError], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._kdfm_broker = broker
        self._kdfm_proxy = proxy
        self._kdfm_on_failure = on_failure

    def _create_socket_connection(self) -> socket.socket:
        try:
            if self._kdfm_proxy is None:
                return super()._create_socket_connection()
            host, port = self._kdfm_broker
            return open_tunnel(self._kdfm_proxy, host, port, self.connect_timeout)
        except OSError as err:
            self._kdfm_on_failure(err)
            raise  # paho's thread catches OSError and tries again after its backoff wait


class NudgeListener:
    """Keeps an MQTT session to the broker and calls `on_nudge` (on the loop) per nudge."""

    def __init__(self, settings: MqttSettings, tenant: str, agent_id: str, *, password: str,
                 ca_file: str, on_nudge: Callable[[], None], cert_file: str = "",
                 key_file: str = "", proxy: str = "") -> None:
        """`proxy` is gateway.proxy: an http:// URL, or "" for the environment's (gRPC's rules)."""
        self._settings = settings
        self._nudge_topic = nudge_topic(tenant, agent_id)
        self._status_topic = status_topic(tenant, agent_id)
        self._on_nudge = on_nudge
        self._loop: asyncio.AbstractEventLoop | None = None
        self.connected = asyncio.Event()
        """Set while the broker has accepted the connection."""
        self.subscribed = asyncio.Event()
        """Set once the broker granted the nudge subscription on the current connection."""
        self._subscribe_mid: int | None = None
        self.last_error = ""
        """Why the latest connection attempt failed; empty once the broker accepted one."""
        try:
            chosen = proxy_for(settings.host, proxy) if settings.host else None
        except ValueError as err:
            raise ConfigError(str(err)) from err
        self.proxy = chosen
        """The proxy the connection goes through; None: direct."""
        client = _Client(CallbackAPIVersion.VERSION2,
                         client_id=f"kdfm-agent.{tenant}.{agent_id}",
                         transport=settings.transport, protocol=mqtt.MQTTv311,
                         clean_session=False, broker=(settings.host, settings.port),
                         proxy=self.proxy, on_failure=self._connect_failed)
        if settings.transport == "websockets":
            client.ws_set_options(path=settings.websocket_path)
        context = ssl.create_default_context(cafile=ca_file or None)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if cert_file:
            # A broker listener with use_identity_as_username takes the agent id from the CN.
            context.load_cert_chain(cert_file, key_file or None)
        self._context, self._cert_file, self._key_file = context, cert_file, key_file
        client.tls_set_context(context)
        client.username_pw_set(settings.username or agent_id, password)
        client.will_set(self._status_topic, OFFLINE, qos=1, retain=True)
        client.reconnect_delay_set(min_delay=max(1, int(settings.reconnect_min_seconds)),
                                   max_delay=max(1, int(settings.reconnect_max_seconds)))
        client.on_connect = self._connected
        client.on_disconnect = self._disconnected
        client.on_subscribe = self._subscribed
        client.on_message = self._message
        self._client = client

    async def __aenter__(self) -> NudgeListener:
        self._loop = asyncio.get_running_loop()
        settings = self._settings
        if not settings.host:
            raise UplinkError("mqtt.host is not set: no broker to listen to")
        if self.proxy is not None:
            log.info("MQTT to %s:%d goes through proxy %s (from %s)", settings.host,
                     settings.port, self.proxy, self.proxy.source)
        self._client.connect_async(settings.host, settings.port,
                                   keepalive=settings.keepalive_seconds)
        # The paho thread connects, and reconnects with backoff for as long as we run.
        self._client.loop_start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        client = self._client
        if self.connected.is_set():
            info = client.publish(self._status_topic, OFFLINE, qos=1, retain=True)
            try:
                await asyncio.to_thread(info.wait_for_publish, 5.0)
            except (RuntimeError, ValueError) as err:
                # The connection went in the meantime; the last will says offline instead.
                log.info("could not say offline on leaving: %s", err)
        client.disconnect()
        await asyncio.to_thread(client.loop_stop)

    def reload_certificate(self) -> None:
        """Take up a renewed certificate for the next (re)connection.

        The open connection stays: the broker checked the certificate at the handshake only.
        """
        if self._cert_file:
            self._context.load_cert_chain(self._cert_file, self._key_file or None)

    # paho thread -> event loop
    def _connect_failed(self, err: OSError) -> None:
        where = f"broker {self._settings.host}:{self._settings.port}"
        if isinstance(err, ProxyError):
            self.last_error = f"cannot reach {where}: {err}"
            log.error("%s; polling goes on, MQTT is retried with backoff", self.last_error)
        else:
            self.last_error = f"cannot reach {where}: {err.strerror or err}"
            log.warning("%s; retrying with backoff", self.last_error)

    def _call(self, func: Callable[..., Any], *args: Any) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(func, *args)

    def _connected(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any,
                   _properties: Any) -> None:
        if reason.is_failure:
            self.last_error = f"broker {self._settings.host} refused the connection: {reason}"
            log.warning("%s", self.last_error)
            return
        self.last_error = ""
        log.info("connected to broker %s:%d (%s%s)", self._settings.host, self._settings.port,
                 self._settings.transport,
                 f" through proxy {self.proxy}" if self.proxy is not None else "")
        self._subscribe_mid = client.subscribe(self._nudge_topic, qos=1)[1]
        client.publish(self._status_topic, ONLINE, qos=1, retain=True)
        self._call(self.connected.set)

    def _disconnected(self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any,
                      _properties: Any) -> None:
        log.warning("lost the broker (%s); paho reconnects with backoff", reason)
        self._call(self.connected.clear)
        self._call(self.subscribed.clear)

    def _subscribed(self, _client: mqtt.Client, _userdata: Any, mid: int, reasons: list[Any],
                    _properties: Any) -> None:
        if mid != self._subscribe_mid:
            return
        if any(r.is_failure for r in reasons):
            log.error("broker refused the subscription to %s: %s", self._nudge_topic, reasons)
            return
        self._call(self.subscribed.set)

    def _message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic == self._nudge_topic:
            self._call(self._on_nudge)
