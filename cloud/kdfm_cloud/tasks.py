"""Queue a task for an agent and nudge it, so it polls within seconds instead of minutes.

The one code path for every caller (the `kdfm-cloud task` command, and any API to come): store
the task, then publish the nudge. A configuration update is also recorded as the agent's
configuration (with its new version), so the agent's next poll does not hand it the old one.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from kdfm_proto.v1 import gateway_pb2

from kdfm_cloud.nudge import NudgeError, NudgePublisher
from kdfm_cloud.settings import MqttSettings
from kdfm_cloud.store import AgentKey, Repository

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Queued:
    """A stored task and whether its nudge reached the broker (None: no broker configured)."""

    task: gateway_pb2.Task
    nudged: bool | None
    nudge_error: str | None = None
    """Why the nudge failed; the agent then sees the task at its next regular poll."""


async def queue_task(repository: Repository, publisher: NudgePublisher | None,
                     agent: AgentKey, task: gateway_pb2.Task) -> gateway_pb2.Task:
    """Store the task, then nudge; a failed nudge only delays the task to the next poll."""
    return (await queue_and_nudge(repository, publisher, agent, task)).task


async def queue_and_nudge(repository: Repository, publisher: NudgePublisher | None,
                          agent: AgentKey, task: gateway_pb2.Task) -> Queued:
    """queue_task, answering whether the nudge went out."""
    if task.WhichOneof("kind") == "update_config":
        version = await asyncio.to_thread(repository.set_config, agent, task.update_config)
        versioned = gateway_pb2.Task()
        versioned.CopyFrom(task)
        versioned.update_config.version = version
        task = versioned
    queued = await asyncio.to_thread(repository.queue_task, agent, task)
    if publisher is None:
        return Queued(queued, None)
    try:
        await publisher.nudge(agent)
    except NudgeError as err:
        log.warning("task %s queued, but the nudge failed (%s): the agent sees it at "
                    "its next poll", queued.task_id, err)
        return Queued(queued, False, str(err))
    return Queued(queued, True)


async def queue_with_settings(repository: Repository, mqtt: MqttSettings, agent: AgentKey,
                              task: gateway_pb2.Task) -> Queued:
    """queue_and_nudge with a publisher of its own for `mqtt` (none when no host is set)."""
    if not mqtt.host:
        return await queue_and_nudge(repository, None, agent, task)
    async with NudgePublisher(mqtt) as publisher:
        return await queue_and_nudge(repository, publisher, agent, task)
