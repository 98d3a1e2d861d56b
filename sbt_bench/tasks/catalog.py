"""The tasks one run can name: the bundled ones, plus that run's own user task folders.

A run's user tasks, and the `module:function` hooks they name, live in overlays of the
bundled registries (`TaskCatalog.with_overlay`), so two runs in one process never see each
other's tasks or hooks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sbt_bench.core.errors import SbtError, suggest
from sbt_bench.core.registry import Registry
from sbt_bench.tasks.hooks import BUNDLED_HOOKS, TaskHooks
from sbt_bench.tasks.spec import GroupSpec, TaskSpec


@dataclass(frozen=True)
class TaskCatalog:
    """Task and group specs by name, and the user file each user task came from."""

    tasks: Registry[TaskSpec]
    groups: Registry[GroupSpec]
    user_files: Registry[str] = field(default_factory=lambda: Registry("user task file"))
    """The YAML each user task or group came from, for the message of a clash."""
    hooks: TaskHooks = BUNDLED_HOOKS
    """Where the tasks' readers, processors and scorers are looked up (user hooks too)."""

    def with_overlay(self) -> TaskCatalog:
        """A catalog that answers with this one's tasks; what is added to it stays in it."""
        return TaskCatalog(
            self.tasks.overlay(),
            self.groups.overlay(),
            self.user_files.overlay(),
            self.hooks.with_overlay(),
        )

    def expand(self, names: Sequence[str]) -> tuple[list[str], list[GroupSpec]]:
        """Resolve task and group names into (tasks in order without repeats, groups named)."""
        tasks: list[str] = []
        groups: list[GroupSpec] = []
        for name in names:
            if name in self.groups:
                group = self.groups.get(name)
                groups.append(group)
                tasks += [t for t in group.tasks if t not in tasks]
            elif name in self.tasks:
                if name not in tasks:
                    tasks.append(name)
            else:
                hint = suggest(name, [*self.tasks.names(), *self.groups.names()])
                raise SbtError(
                    f"unknown task or group {name!r}.{hint} `sbt-bench list` shows them all"
                )
        return tasks, groups
