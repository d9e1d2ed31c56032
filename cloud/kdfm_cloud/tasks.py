"""Queue a task for an agent and nudge it, so it polls within seconds instead of minutes."""

from __future__ import annotations

import asyncio
import logging

from kdfm_proto.v1 import gateway_pb2

from kdfm_cloud.nudge import NudgeError, NudgePublisher
from kdfm_cloud.store import AgentKey, Repository

log = logging.getLogger(__name__)


async def queue_task(repository: Repository, publisher: NudgePublisher | None,
                     agent: AgentKey, task: gateway_pb2.Task) -> gateway_pb2.Task:
    """Store the task, then nudge; a failed nudge only delays the task to the next poll."""
    queued = await asyncio.to_thread(repository.queue_task, agent, task)
    if publisher is not None:
        try:
            await publisher.nudge(agent)
        except NudgeError as err:
            log.warning("task %s queued, but the nudge failed (%s): the agent sees it at "
                        "its next poll", queued.task_id, err)
    return queued
