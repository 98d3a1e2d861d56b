"""Group entries of results.json: means over a group's subtasks, weighted both ways."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from sbt_bench.core.registry import Registry
from sbt_bench.metrics.intervals import Z_95
from sbt_bench.metrics.stats import item_weighted_mean, mean, stderr_of_mean_of_means
from sbt_bench.results.schema import GroupResult, TaskResult
from sbt_bench.tasks import GROUPS
from sbt_bench.tasks.spec import GroupSpec


def aggregate_groups(
    tasks: Mapping[str, TaskResult], groups: Sequence[GroupSpec]
) -> dict[str, GroupResult]:
    """Group means over subtasks present in the results (incomplete groups are skipped).

    `<metric>` is the unweighted mean of the subtasks' means (the paper's ETHICS
    average); `<metric>_item_weighted` the mean over all their items. Both are labelled
    in `weighting` and carry an SE and a 95% CI: normal, cut to [0, 1] where every
    subtask's metric is a proportion (its interval a Wilson one), since a mean of
    shares cannot leave [0, 1].
    """
    out: dict[str, GroupResult] = {}
    for group in groups:
        if group.mean_of is None or not all(t in tasks for t in group.tasks):
            continue
        metric, weighted = group.mean_of, f"{group.mean_of}_item_weighted"
        values = [_number(tasks[t].metrics.get(metric)) for t in group.tasks]
        errors = [_number(tasks[t].stderr.get(metric)) for t in group.tasks]
        counts = [tasks[t].n_samples or 0 for t in group.tasks]
        means = {
            metric: (mean(values), stderr_of_mean_of_means(errors)),
            weighted: item_weighted_mean(values, errors, counts),
        }
        shares = all(
            str(tasks[t].ci_method.get(metric, "")).startswith("wilson") for t in group.tasks
        )
        out[group.group] = GroupResult(
            tasks=tuple(group.tasks),
            metrics={k: v for k, (v, _) in means.items()},
            stderr={k: se for k, (_, se) in means.items()},
            ci95={k: _interval(v, se, shares=shares) for k, (v, se) in means.items()},
            ci_method=dict.fromkeys(means, "normal"),
            weighting={
                metric: "unweighted mean of the subtasks' means",
                weighted: "mean over every item of the subtasks",
            },
        )
    return out


def known_groups(
    registry: Registry[GroupSpec] | None = None, named: Sequence[GroupSpec] = ()
) -> list[GroupSpec]:
    """Every group the run knows (its catalog's, default the bundled ones), its own first.

    A merge recomputes each group whose members are all in the folder, not only the groups
    this run named, so `--tasks truthfulqa_mc2` into a folder holding ETHICS keeps its mean.
    """
    groups = registry if registry is not None else GROUPS
    seen = {g.group for g in named}
    return [*named, *(groups.get(n) for n in groups.names() if n not in seen)]


def _interval(value: float, se: float, *, shares: bool) -> tuple[float, float]:
    low, high = value - Z_95 * se, value + Z_95 * se
    return (max(low, 0.0), min(high, 1.0)) if shares else (low, high)


def _number(value: float | None) -> float:
    """A metric read back from results.json, where an undefined number is null."""
    return math.nan if value is None else float(value)
