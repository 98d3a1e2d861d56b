"""Which way a task's (or a group's) metric is better, for tables and comparisons."""

from __future__ import annotations

from sbt_bench.core.errors import SbtError
from sbt_bench.metrics.directions import METRIC_DIRECTIONS, HigherIsBetter
from sbt_bench.tasks import GROUPS, TASKS
from sbt_bench.tasks.base import build_task

ITEM_WEIGHTED = "_item_weighted"
"""A group's second mean (`group_means`): the same metric, weighted by items."""


def metric_direction(name: str, metric: str) -> HigherIsBetter:
    """The direction of `metric` of the task or group `name` (None: no better direction).

    A group's means go the way of the metric they average. A results file may hold a task
    this version does not define (or an undeclared user metric): its direction is the
    name's declared one where there is one, else None, so it is never marked either way.

    Example:
        >>> metric_direction("pope_random", "f1"), metric_direction("pope_random", "yes_ratio")
        (True, None)
    """
    if name in GROUPS and name not in TASKS:
        group = GROUPS.get(name)
        if not group.tasks:
            return None
        return metric_direction(group.tasks[0], metric.removesuffix(ITEM_WEIGHTED))
    try:
        return build_task(TASKS.get(name)).higher_is_better(metric)
    except SbtError:
        return METRIC_DIRECTIONS.get(metric) if metric in METRIC_DIRECTIONS else None
