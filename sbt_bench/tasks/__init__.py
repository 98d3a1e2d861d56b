"""Task registry: every `tasks/**.yaml` becomes a TaskSpec or GroupSpec registered by name."""

from __future__ import annotations

from sbt_bench.core.errors import SbtError, suggest
from sbt_bench.core.files import find_bundled_dir
from sbt_bench.core.registry import Registry
from sbt_bench.core.types import ItemResult
from sbt_bench.tasks.base import Task, build_task
from sbt_bench.tasks.loader import register_all
from sbt_bench.tasks.spec import GroupSpec, TaskSpec

TASKS: Registry[TaskSpec] = Registry("task")
GROUPS: Registry[GroupSpec] = Registry("task group")
register_all(find_bundled_dir("tasks"), TASKS, GROUPS)


def expand_task_names(names: list[str]) -> tuple[list[str], list[GroupSpec]]:
    """Resolve task and group names into (tasks in order without repeats, groups named)."""
    tasks: list[str] = []
    groups: list[GroupSpec] = []
    for name in names:
        if name in GROUPS:
            group = GROUPS.get(name)
            groups.append(group)
            tasks += [t for t in group.tasks if t not in tasks]
        elif name in TASKS:
            if name not in tasks:
                tasks.append(name)
        else:
            hint = suggest(name, [*TASKS.names(), *GROUPS.names()])
            raise SbtError(f"unknown task or group {name!r}.{hint} `sbt-bench list` shows them all")
    return tasks, groups


__all__ = [
    "GROUPS",
    "TASKS",
    "GroupSpec",
    "ItemResult",
    "Task",
    "TaskSpec",
    "build_task",
    "expand_task_names",
]
