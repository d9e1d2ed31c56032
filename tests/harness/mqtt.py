"""A paho-mqtt 2 test client that waits on events instead of sleeping.

`connected_client` connects over TLS (`transport="tcp"`) or WebSockets/TLS
(`transport="websockets"`) with MQTT v5 and records every message and SUBACK, so a test can
say "wait for this message" or "this subscription was refused" without timing guesses.
"""

from __future__ import annotations

import queue
import ssl
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import paho.mqtt.client as mqtt
from kdfm_cloud.devstack.mosquitto import Broker
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

TIMEOUT = 30.0
"""Seconds any single wait may take; generous for a loaded 2-core machine."""


@dataclass(frozen=True)
class Message:
    """One received PUBLISH."""

    topic: str
    payload: bytes


@dataclass
class ProbeClient:
    """A connected paho client plus what it has received."""

    client: mqtt.Client
    messages: queue.Queue[Message] = field(default_factory=queue.Queue)
    subacks: dict[int, list[ReasonCode]] = field(default_factory=dict)
    suback_event: threading.Condition = field(default_factory=threading.Condition)

    def subscribe(self, topic: str, qos: int = 1) -> list[ReasonCode]:
        """Subscribe and return the broker's reason codes (check `.is_failure`)."""
        result, mid = self.client.subscribe(topic, qos=qos)
        if result != mqtt.MQTT_ERR_SUCCESS or mid is None:
            raise RuntimeError(f"subscribe to {topic} could not be sent: {result}")
        with self.suback_event:
            if not self.suback_event.wait_for(lambda: mid in self.subacks, timeout=TIMEOUT):
                raise TimeoutError(f"no SUBACK for {topic} within {TIMEOUT} s")
            return self.subacks.pop(mid)

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        """Publish and wait until the broker acknowledged it (QoS 1)."""
        info = self.client.publish(topic, payload, qos=qos)
        info.wait_for_publish(timeout=TIMEOUT)
        if not info.is_published():
            raise TimeoutError(f"publish to {topic} not acknowledged within {TIMEOUT} s")

    def next_message(self, timeout: float = TIMEOUT) -> Message:
        """The next received message; raises queue.Empty after `timeout`."""
        return self.messages.get(timeout=timeout)

    def received(self) -> list[Message]:
        """Every message received so far and not yet taken."""
        items = []
        while True:
            try:
                items.append(self.messages.get_nowait())
            except queue.Empty:
                return items


class ConnectRefused(Exception):
    """The broker answered CONNECT with a failure reason code."""

    def __init__(self, reason: ReasonCode) -> None:
        super().__init__(f"broker refused the connection: {reason}")
        self.reason = reason


@contextmanager
def connected_client(
    broker: Broker,
    username: str,
    password: str,
    *,
    transport: Literal["tcp", "websockets"] = "tcp",
    tls_context: ssl.SSLContext | None = None,
    port: int | None = None,
) -> Iterator[ProbeClient]:
    """A client connected to `broker` (raises ConnectRefused on a refused CONNECT).

    `port` overrides the transport's listener, e.g. the agents' certificate listener (then
    `tls_context` carries the client certificate and the broker ignores `username`).
    """
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{uuid.uuid4().hex[:10]}",
                         protocol=mqtt.MQTTv5, transport=transport)
    probe = ProbeClient(client)
    connack: queue.Queue[ReasonCode] = queue.Queue()

    def on_connect(_c: mqtt.Client, _u: Any, _f: Any, reason: ReasonCode,
                   _p: Properties | None) -> None:
        connack.put(reason)

    def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        probe.messages.put(Message(msg.topic, bytes(msg.payload)))

    def on_subscribe(_c: mqtt.Client, _u: Any, mid: int, reasons: list[ReasonCode],
                     _p: Properties | None) -> None:
        with probe.suback_event:
            probe.subacks[mid] = list(reasons)
            probe.suback_event.notify_all()

    client.on_connect = on_connect
    client.on_message = on_message
    client.on_subscribe = on_subscribe
    client.username_pw_set(username, password)
    client.tls_set_context(tls_context or broker.tls_context())
    if port is None:
        port = broker.mqtt_port if transport == "tcp" else broker.wss_port
    client.connect(broker.host, port, keepalive=30)
    client.loop_start()
    try:
        try:
            reason = connack.get(timeout=TIMEOUT)
        except queue.Empty as err:
            raise TimeoutError(f"no CONNACK from {broker.host}:{port} within {TIMEOUT} s") from err
        if reason.is_failure:
            raise ConnectRefused(reason)
        yield probe
    finally:
        client.disconnect()
        client.loop_stop()
