"""Ansible callback `task_times`: wall time per task, slowest first, at the end of the run.

What profile_tasks (ansible.posix, not installed with ansible-core) prints, for the benchmark.
A task's time runs from its start to the start of the next task, summed over the plays
(serial batches) it ran in.
"""

from __future__ import annotations

import time
from typing import Any

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: task_times
type: aggregate
short_description: wall time per task, slowest first
description: Sums each task's wall time over the run and prints the slowest at the end.
requirements: [enable in callbacks_enabled]
"""


class CallbackModule(CallbackBase):  # type: ignore[misc]
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_times"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self.totals: dict[str, float] = {}
        self.current: tuple[str, float] | None = None

    def _close(self) -> None:
        if self.current is not None:
            name, started = self.current
            self.totals[name] = self.totals.get(name, 0.0) + time.monotonic() - started
            self.current = None

    def v2_playbook_on_task_start(self, task: Any, is_conditional: bool) -> None:
        self._close()
        self.current = (task.get_name(), time.monotonic())

    def v2_playbook_on_handler_task_start(self, task: Any) -> None:
        self.v2_playbook_on_task_start(task, False)

    def v2_playbook_on_play_start(self, play: Any) -> None:
        self._close()

    def v2_playbook_on_stats(self, stats: Any) -> None:
        self._close()
        self._display.display("TASK TIMES (slowest first)")
        for name, seconds in sorted(self.totals.items(), key=lambda kv: -kv[1]):
            self._display.display(f"task-time {seconds:7.2f}s  {name}")
