"""The registries a task spec's named functions are looked up in: readers, processors, scorers.

A run's user task folders register their `module:function` hooks into an overlay of the
bundled registries (`TaskHooks.with_overlay`), carried by the run's `TaskCatalog`, so that
the process-global `READERS`, `PROCESSORS` and `GENERATION_SCORERS` never change.
"""

from __future__ import annotations

from dataclasses import dataclass

from sbt_bench.core.registry import Registry
from sbt_bench.metrics import GENERATION_SCORERS, ItemScorer
from sbt_bench.tasks.processors import PROCESSORS, Processor
from sbt_bench.tasks.readers import READERS, Reader


@dataclass(frozen=True)
class TaskHooks:
    """Where a task's `reader`, `process` and generation `scorer` names are resolved."""

    readers: Registry[Reader]
    processors: Registry[Processor]
    scorers: Registry[ItemScorer]

    def with_overlay(self) -> TaskHooks:
        """Hooks that answer with these; what is registered in them stays in them."""
        return TaskHooks(self.readers.overlay(), self.processors.overlay(), self.scorers.overlay())


BUNDLED_HOOKS = TaskHooks(READERS, PROCESSORS, GENERATION_SCORERS)
"""The bundled functions alone (a run with user folders gets an overlay of these)."""
