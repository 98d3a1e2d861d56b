"""Task registry: every `tasks/**.yaml` becomes a TaskSpec or GroupSpec registered by name.

The YAMLs are read when a task is first asked for, not at import: `import sbt_bench.tasks`
reads no file.
"""

from __future__ import annotations

from collections.abc import Sequence

from sbt_bench.core.files import find_bundled_dir
from sbt_bench.core.registry import Registry
from sbt_bench.core.types import ItemResult
from sbt_bench.tasks.base import Task, build_task
from sbt_bench.tasks.catalog import TaskCatalog
from sbt_bench.tasks.loader import register_all
from sbt_bench.tasks.spec import GroupSpec, TaskSpec


def _read_bundled(_: object) -> None:
    """Fill TASKS and GROUPS from the bundled YAMLs (both at once, whichever is used first)."""
    register_all(find_bundled_dir("tasks"), TASKS, GROUPS)


def _fill_groups(_: object) -> None:
    """Groups are read with the tasks: using GROUPS first fills TASKS, which fills both."""
    TASKS.names()


TASKS: Registry[TaskSpec] = Registry("task", fill=_read_bundled)
GROUPS: Registry[GroupSpec] = Registry("task group", fill=_fill_groups)


def bundled_catalog() -> TaskCatalog:
    """The bundled tasks alone (a run with user folders gets an overlay of these)."""
    return TaskCatalog(TASKS, GROUPS)


def expand_task_names(
    names: Sequence[str], catalog: TaskCatalog | None = None
) -> tuple[list[str], list[GroupSpec]]:
    """Resolve task and group names into (tasks in order without repeats, groups named)."""
    return (catalog or bundled_catalog()).expand(names)


__all__ = [
    "GROUPS",
    "TASKS",
    "GroupSpec",
    "ItemResult",
    "Task",
    "TaskCatalog",
    "TaskSpec",
    "build_task",
    "bundled_catalog",
    "expand_task_names",
]
