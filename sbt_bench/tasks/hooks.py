"""The registries a task spec's named functions are looked up in: readers, processors, scorers.

A run's user task folders register their `module:function` hooks into an overlay of the
bundled registries (`TaskHooks.with_overlay`), carried by the run's `TaskCatalog`, so that
the process-global `READERS`, `PROCESSORS` and `GENERATION_SCORERS` never change; the
metrics their modules declare (`declare_metrics`) go into an overlay of `METRIC_DIRECTIONS`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sbt_bench.core.registry import Registry
from sbt_bench.metrics import GENERATION_SCORERS, METRIC_DIRECTIONS, ItemScorer
from sbt_bench.metrics.directions import MetricDirections
from sbt_bench.tasks.processors import PROCESSORS, Processor
from sbt_bench.tasks.readers import READERS, Reader


@dataclass(frozen=True)
class TaskHooks:
    """Where a task's `reader`, `process` and `scorer` names (and their metrics) resolve.

    `directions` holds the directions those functions' modules declare.
    """

    readers: Registry[Reader]
    processors: Registry[Processor]
    scorers: Registry[ItemScorer]
    directions: MetricDirections = METRIC_DIRECTIONS

    def with_overlay(self) -> TaskHooks:
        """Hooks that answer with these; what is registered in them stays in them."""
        return TaskHooks(
            self.readers.overlay(),
            self.processors.overlay(),
            self.scorers.overlay(),
            self.directions.overlay(),
        )


BUNDLED_HOOKS = TaskHooks(READERS, PROCESSORS, GENERATION_SCORERS)
"""The bundled functions alone (a run with user folders gets an overlay of these)."""
