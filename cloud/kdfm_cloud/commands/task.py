"""`kdfm-cloud task queue|list`: give an agent work now, and see how its tasks ended.

    kdfm-cloud task queue --tenant T --agent A read-now [TARGET...]
    kdfm-cloud task queue --tenant T --agent A discover-now [TARGET...]
    kdfm-cloud task queue --tenant T --agent A update-config --targets T1 [T2...]
    kdfm-cloud task list [--tenant T] [--agent A] [--json]

The database and the broker come from the stack's configuration (--config FILE, else
`cloud.yaml` of --state-dir); queueing publishes the nudge through kdfm_cloud.tasks, the same
code path every other caller uses.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from kdfm_proto.v1 import gateway_pb2

from kdfm_cloud import identity, tasks
from kdfm_cloud.endpoints import DEFAULT_STATE_DIR
from kdfm_cloud.errors import CloudError
from kdfm_cloud.stackconfig import load_stack_settings
from kdfm_cloud.store import TaskRow, open_repository


def _where(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--state-dir", type=Path, default=None,
                       help=f"the local stack's directory (default {DEFAULT_STATE_DIR})")
    where.add_argument("--config", type=Path, default=None,
                       help="the gateway's YAML configuration (store and mqtt)")


def register(subparsers: Any) -> None:
    """Add the `task` sub-command."""
    parser = subparsers.add_parser("task", help="queue tasks for agents and list them")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    queue = actions.add_parser("queue", help="queue a task for an agent and nudge it")
    queue.add_argument("--tenant", required=True)
    queue.add_argument("--agent", required=True, help="the agent id")
    queue.add_argument("--json", action="store_true", help="one JSON object")
    _where(queue)
    kinds = queue.add_subparsers(dest="kind", metavar="KIND", required=True)
    read = kinds.add_parser("read-now", help="read devices now (none named: every known one)")
    read.add_argument("targets", nargs="*", metavar="TARGET")
    discover = kinds.add_parser("discover-now",
                                help="sweep for devices now (none named: the configured targets)")
    discover.add_argument("targets", nargs="*", metavar="TARGET")
    config = kinds.add_parser("update-config", help="give the agent new targets")
    config.add_argument("--targets", nargs="+", required=True, metavar="TARGET",
                        help="IPs, CIDR blocks, ranges a.b.c.d-e.f.g.h and host names")
    config.add_argument("--exclusions", nargs="*", default=[], metavar="TARGET")
    show = actions.add_parser("list", help="tasks, newest first")
    show.add_argument("--tenant", default=None, help="only this tenant")
    show.add_argument("--agent", default=None, help="only this agent id")
    show.add_argument("--limit", type=int, default=100, help="tasks shown (100)")
    show.add_argument("--json", action="store_true", help="a JSON array instead of a table")
    _where(show)
    parser.set_defaults(func=run)


def build_task(args: argparse.Namespace) -> gateway_pb2.Task:
    """The Task the command line asks for."""
    if args.kind == "read-now":
        return gateway_pb2.Task(read_now=gateway_pb2.ReadNow(targets=args.targets))
    if args.kind == "discover-now":
        return gateway_pb2.Task(discover_now=gateway_pb2.DiscoverNow(targets=args.targets))
    return gateway_pb2.Task(update_config=gateway_pb2.AgentConfig(
        targets=args.targets, exclusions=args.exclusions))


def row_json(row: TaskRow) -> dict[str, Any]:
    """A task as a JSON object."""
    def stamp(value: Any) -> str | None:
        return None if value is None else str(value.isoformat())

    return {"tenant": row.tenant, "agent_id": row.agent_id, "task_id": row.task_id,
            "kind": row.kind, "state": row.state, "created_at": stamp(row.created_at),
            "delivered_at": stamp(row.delivered_at), "finished_at": stamp(row.finished_at),
            "deliveries": row.deliveries, "message": row.message}


def as_table(rows: list[TaskRow]) -> str:
    """Tasks as a fixed-width table."""
    lines = [f"{'TENANT':16} {'AGENT':24} {'TASK':32} {'KIND':14} {'STATE':10} "
             f"{'CREATED':20} MESSAGE"]
    lines += [f"{r.tenant:16} {r.agent_id:24} {r.task_id:32} {r.kind:14} {r.state:10} "
              f"{r.created_at.strftime('%Y-%m-%d %H:%M:%S'):20} {r.message or ''}"
              for r in rows]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Exit 0 when queued (nudged or not) or listed, 1 for an unknown agent, 2 without
    configuration or database."""
    try:
        settings = load_stack_settings(args.config, args.state_dir)
        repository = open_repository(settings.store.database)
    except CloudError as err:
        print(f"kdfm-cloud task: {err}", file=sys.stderr)
        return 2
    try:
        if args.action == "list":
            rows = repository.tasks(args.tenant, args.agent, args.limit)
            print(json.dumps([row_json(r) for r in rows], indent=2) if args.json
                  else as_table(rows))
            return 0
        try:
            identity.check_name("tenant", args.tenant)
            identity.check_name("agent", args.agent)
            # A typo must not queue work for an agent that will never exist.
            agent = repository.trust.find_agent(args.agent, args.tenant)
        except CloudError as err:
            print(f"kdfm-cloud task queue: {err}", file=sys.stderr)
            return 1
        queued = asyncio.run(tasks.queue_with_settings(
            repository, settings.mqtt, agent, build_task(args)))
    finally:
        repository.close()
    nudge = {None: "no broker configured: the agent sees it at its next poll",
             True: "agent nudged", False: f"nudge failed ({queued.nudge_error}): the agent "
                                          "sees it at its next poll"}[queued.nudged]
    if args.json:
        print(json.dumps({"task_id": queued.task.task_id, "kind": queued.task.WhichOneof("kind"),
                          "nudged": queued.nudged, "nudge_error": queued.nudge_error}))
    else:
        print(f"task {queued.task.task_id} ({queued.task.WhichOneof('kind')}) queued for "
              f"{args.tenant}/{args.agent}; {nudge}")
    return 0
