"""Which way a task's (or a group's) metric is better, for tables and comparisons."""

from __future__ import annotations

from sbt_bench.core.errors import SbtError
from sbt_bench.metrics.directions import HigherIsBetter
from sbt_bench.tasks import bundled_catalog
from sbt_bench.tasks.base import build_task
from sbt_bench.tasks.catalog import TaskCatalog

ITEM_WEIGHTED = "_item_weighted"
"""A group's second mean (`group_means`): the same metric, weighted by items."""


def metric_direction(name: str, metric: str, catalog: TaskCatalog | None = None) -> HigherIsBetter:
    """The direction of `metric` of the task or group `name` (None: no better direction).

    A group's means go the way of the metric they average. A results file may hold a task
    this version does not define (or an undeclared user metric): its direction is the
    name's declared one where there is one, else None, so it is never marked either way.
    `catalog`: the run's (with its user tasks and their metrics), else the bundled one; a
    results file's recorded direction (`TaskResult.directions`) comes before this.

    Example:
        >>> metric_direction("pope_random", "f1"), metric_direction("pope_random", "yes_ratio")
        (True, None)
    """
    catalog = catalog or bundled_catalog()
    if name in catalog.groups and name not in catalog.tasks:
        group = catalog.groups.get(name)
        if not group.tasks:
            return None
        return metric_direction(group.tasks[0], metric.removesuffix(ITEM_WEIGHTED), catalog)
    directions = catalog.hooks.directions
    try:
        return build_task(catalog.tasks.get(name), hooks=catalog.hooks).higher_is_better(metric)
    except SbtError:
        return directions.get(metric) if metric in directions else None
