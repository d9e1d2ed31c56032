"""Agents' broker accounts (Mosquitto dynamic security): made at enrolment, dropped at revocation.

The agent authenticates to the broker with its client certificate: the agents' listener has
`require_certificate true` and `use_identity_as_username true`, so the user name is the
certificate's CN, the agent id. The dynamic-security client of that name carries the ACL: the
agent's own nudge topic (subscribe) and status topic (publish), nothing else. Deleting the
client disconnects the agent at once and leaves a reconnect without any topic.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

from kdfm_cloud.devstack.errors import CommandError
from kdfm_cloud.devstack.mosquitto import Broker
from kdfm_cloud.errors import CloudError
from kdfm_cloud.nudge import agent_acl
from kdfm_cloud.settings import BrokerAdminSettings, read_secret
from kdfm_cloud.store import AgentKey


class BrokerAdminError(CloudError):
    """The broker's dynamic-security plugin refused or could not be reached."""

    retryable = True


class AgentBroker:
    """Make and drop agent accounts through the dynamic-security admin."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker

    @classmethod
    def from_settings(cls, settings: BrokerAdminSettings) -> AgentBroker | None:
        """An admin for the configured broker, None when no broker is configured."""
        if not settings.host:
            return None
        password = read_secret(settings.admin_password_file,
                               "broker_admin.admin_password_file")
        return cls(Broker(host=settings.host, mqtt_port=settings.port, wss_port=settings.port,
                          ca_cert=Path(settings.ca_file), admin_user=settings.admin_user,
                          admin_password=password))

    def add_now(self, agent: AgentKey) -> None:
        """Create the agent's account (blocking); an existing one is replaced.

        Replacing deletes the old client, which disconnects a connection that still uses it.
        """
        publish, subscribe = agent_acl(agent)
        try:
            # Never used to log in (the certificate is); dynsec wants one all the same.
            self._broker.add_client(agent.agent_id, secrets.token_urlsafe(24),
                                    publish=publish, subscribe=subscribe)
        except CommandError as err:
            raise BrokerAdminError(f"broker account of agent {agent.agent_id}: {err}") from err

    def remove_now(self, agent: AgentKey) -> None:
        """Delete the agent's account (blocking): the broker disconnects it at once."""
        try:
            self._broker.remove_client(agent.agent_id, missing_ok=True)
        except CommandError as err:
            raise BrokerAdminError(f"broker account of agent {agent.agent_id}: {err}") from err

    async def add(self, agent: AgentKey) -> None:
        """add_now in a worker thread."""
        await asyncio.to_thread(self.add_now, agent)
