"""Nudges: the cloud tells an agent "poll now" over MQTT when a task is queued for it.

The payload is empty on purpose: a nudge carries no data and no secrets, the agent fetches
its work over the mutual-TLS gateway. Topic layout (the agent's uplink spells it the same):
    kdfm/v1/<tenant>/agents/<agent_id>/nudge    cloud -> agent, QoS 1
    kdfm/v1/<tenant>/agents/<agent_id>/status   agent -> cloud, "online"/"offline", retained
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import ssl
from types import TracebackType
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from kdfm_cloud.errors import CloudError, ConfigError
from kdfm_cloud.settings import MqttSettings, read_secret
from kdfm_cloud.store import AgentKey

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT_SECONDS = 30.0


class NudgeError(CloudError):
    """A nudge could not be published; the agent will still find the task at its next poll."""

    retryable = True


def nudge_topic(agent: AgentKey) -> str:
    """The topic an agent listens to for nudges."""
    return f"kdfm/v1/{agent.tenant}/agents/{agent.agent_id}/nudge"


def status_topic(agent: AgentKey) -> str:
    """The topic an agent announces online/offline on."""
    return f"kdfm/v1/{agent.tenant}/agents/{agent.agent_id}/status"


def agent_acl(agent: AgentKey) -> tuple[list[str], list[str]]:
    """(publish, subscribe) topics an agent's broker account may use: its own, nothing else."""
    return [status_topic(agent)], [nudge_topic(agent)]


NUDGER_PUBLISH = "kdfm/v1/+/agents/+/nudge"
"""What the cloud's publisher account may publish to (every agent's nudge topic)."""


class NudgePublisher:
    """`async with NudgePublisher(settings) as p: await p.nudge(agent)`."""

    def __init__(self, settings: MqttSettings) -> None:
        if not settings.host:
            raise ConfigError("mqtt.host is not set: nowhere to publish nudges")
        self._settings = settings
        password = ""
        if settings.password_file:
            password = read_secret(settings.password_file, "mqtt.password_file")
        # A suffix of its own: two publishers with one client id would throw each other off
        # the broker (a `kdfm-cloud task queue` beside another, or beside a service).
        client_id = f"{settings.client_id}-{secrets.token_hex(4)}"
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                             transport=settings.transport, protocol=mqtt.MQTTv311)
        context = ssl.create_default_context(cafile=settings.ca_file or None)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        client.tls_set_context(context)
        if settings.username:
            client.username_pw_set(settings.username, password)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client = client
        self._connected = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect

    def _on_connect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.warning("broker refused the nudge publisher: %s", reason)
        elif self._loop is not None:
            self._loop.call_soon_threadsafe(self._connected.set)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._connected.clear)

    async def __aenter__(self) -> NudgePublisher:
        self._loop = asyncio.get_running_loop()
        self._client.connect_async(self._settings.host, self._settings.port)
        self._client.loop_start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)

    async def wait_connected(self, seconds: float = PUBLISH_TIMEOUT_SECONDS) -> bool:
        """True once the broker accepted the publisher (False after `seconds`)."""
        try:
            await asyncio.wait_for(self._connected.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def nudge(self, agent: AgentKey) -> None:
        """Publish one nudge (QoS 1) and wait until the broker acknowledged it."""
        if not await self.wait_connected():
            raise NudgeError(f"broker {self._settings.host}:{self._settings.port} not "
                             f"reachable within {PUBLISH_TIMEOUT_SECONDS:.0f} s")
        info = self._client.publish(nudge_topic(agent), b"", qos=1)
        await asyncio.to_thread(info.wait_for_publish, PUBLISH_TIMEOUT_SECONDS)
        if not info.is_published():
            raise NudgeError(f"nudge to {agent.tenant}/{agent.agent_id} was not acknowledged")
