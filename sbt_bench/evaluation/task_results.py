"""The one builder of a task's `TaskResult`, for `run`, `run --predict-only` and `score`.

Every path that writes a task's entry goes through `finish_task`, so where the items came
from, which protocol and parser produced the answers, what they cost and how images were
sent are recorded the same way whether the answers are scored now or later.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sbt_bench.backends.image_payload import images_sent
from sbt_bench.core.protocols import summarize_protocols
from sbt_bench.core.types import AggregateScores, HubRevision, ItemResult, ModelSpec, Response
from sbt_bench.evaluation import judge as judging
from sbt_bench.evaluation.predict_only import answer_item
from sbt_bench.evaluation.prompting import task_hash
from sbt_bench.metrics.directions import HigherIsBetter
from sbt_bench.metrics.intervals import Estimate
from sbt_bench.results.folder import TaskCommit
from sbt_bench.results.records import collect_items, render_samples
from sbt_bench.results.schema import ItemFailure, JudgeRecord, TaskResult
from sbt_bench.results.usage import estimate_cost, price_for, sum_usage
from sbt_bench.tasks.base import Parser, Task
from sbt_bench.tasks.breakdown_bars import breakdown_estimates, breakdown_json
from sbt_bench.tasks.error_bars import error_bar_notes, score_bounds, task_estimates

MAX_LISTED = 100
"""Failed items and missing images listed by name in results.json (all are counted)."""


class PlannedTask(judging.PlannedTask, Protocol):
    """What is read of the runner's TaskPlan (this module sits below the runner)."""

    @property
    def n_available(self) -> int:
        """Items the task has."""
        ...

    @property
    def data_source(self) -> str:
        """Where the items came from."""
        ...

    @property
    def prompt(self) -> Mapping[str, Any]:
        """The prompt settings applied."""
        ...

    @property
    def missing_images(self) -> tuple[str, ...]:
        """Image files left out under --skip-missing-images."""
        ...

    @property
    def data_revision(self) -> HubRevision | None:
        """The hub commit the items came from (None for local files)."""
        ...


@dataclass(frozen=True)
class ResultSettings:
    """The run settings a task's entry records: `--limit`, `--seed`, `--parser`."""

    limit: int | float | None = None
    seed: int = 0
    parser: Parser = "default"


@dataclass(frozen=True)
class ServedBy:
    """Who answered: the model (for usage, cost and images sent) and the judge, if any."""

    model: ModelSpec | None = None
    judge: JudgeRecord | None = None


@dataclass(frozen=True)
class FinishedTask:
    """A task's result and its items: scored, or (`--predict-only`) answered only."""

    result: TaskResult
    items: tuple[ItemResult, ...]

    def to_commit(self, task: str = "") -> TaskCommit:
        """The result and the samples file text (each line naming `task` and its hash)."""
        return TaskCommit(
            self.result, render_samples(self.items, task, self.result.spec_hash or "")
        )


def finish_task(
    plan: PlannedTask,
    responses: Sequence[Response],
    settings: ResultSettings,
    *,
    scoring: bool = True,
    served: ServedBy | None = None,
) -> FinishedTask:
    """Score (or, without `scoring`, only read) each sample's answer and build the result.

    `responses` start with the plan's own (in request order) and may run on past them.
    """
    read = plan.task.score if scoring else answer_item(plan.task)
    items, failures = collect_items(plan.samples, plan.requests, responses, read)
    n_requests = sum(len(requests) for requests in plan.requests)
    result = build_task_result(
        plan,
        items,
        failures,
        settings,
        scoring=scoring,
        responses=responses[:n_requests],
        served=served or ServedBy(),
    )
    return FinishedTask(result, tuple(items))


def build_task_result(
    plan: PlannedTask,
    items: Sequence[ItemResult],
    failures: Sequence[ItemFailure],
    settings: ResultSettings,
    *,
    scoring: bool,
    responses: Sequence[Response],
    served: ServedBy,
) -> TaskResult:
    """A task's entry: its numbers (when scoring), what they rest on and who answered."""
    spec = plan.task.spec
    counts = dict(Counter(item.protocol for item in items if item.protocol is not None))
    letters = any(name.startswith("letters") for name in counts)
    official = spec.generation is not None and spec.generation.official_scorer
    model = served.model
    usage = sum_usage(responses)
    price = None if model is None else price_for(model)
    sent = [request for requests in plan.requests for request in requests]
    numbers = _numbers(plan, items, settings.seed) if scoring else {"metrics": {}}
    return TaskResult(
        version=spec.version,
        spec_hash=task_hash(spec, plan.prompt),
        n_samples=len(items),
        n_available=plan.n_available,
        limit=settings.limit,
        data_source=plan.data_source,
        n_requests=len(sent),
        n_failed=len(failures),
        failed_items=tuple(failures[:MAX_LISTED]),
        parser=settings.parser if official else None,
        prompt=dict(plan.prompt),
        n_missing_images=len(plan.missing_images) or None,
        missing_images=plan.missing_images[:MAX_LISTED],
        data_revision=plan.data_revision,
        protocol=summarize_protocols(counts),
        protocol_counts=counts,
        shuffle_seed=settings.seed if letters else None,
        usage=usage,
        cost_usd=None if usage is None else estimate_cost(usage, price),
        price=price,
        images=None if model is None else images_sent(sent, model),
        judge=served.judge,
        predict_only=not scoring,
        **numbers,
    )


def _numbers(plan: PlannedTask, items: Sequence[ItemResult], seed: int) -> dict[str, Any]:
    """The scored fields: metrics, their error bars (and how found), breakdown, notes."""
    scores: AggregateScores = plan.task.aggregate(items)
    spec = plan.task.spec
    names = plan.task.metric_names()
    estimates, no_error_bar = task_estimates(
        spec.aggregate, items, names, seed=seed, bounds=score_bounds(spec, names)
    )
    parts, no_part_bars = breakdown_estimates(spec.aggregate, items)
    clusters = {e.n_clusters for e in estimates.values() if e.n_clusters is not None}
    return {
        "metrics": dict(scores.metrics),
        "directions": _directions(plan.task, scores.metrics),
        "stderr": _stderr(scores, estimates),
        "ci95": {m: (e.ci_low, e.ci_high) for m, e in estimates.items()},
        "stderr_method": {m: e.method for m, e in estimates.items()},
        "ci_method": {m: e.interval for m, e in estimates.items()},
        "n_clusters": max(clusters) if clusters else None,
        "breakdown": {k: dict(v) for k, v in scores.breakdown.items()},
        **breakdown_json(parts),
        "notes": {
            **scores.notes,
            **error_bar_notes(no_error_bar),
            **({"breakdown_stderr": no_part_bars} if no_part_bars else {}),
        },
    }


def _directions(task: Task, metrics: Mapping[str, object]) -> dict[str, HigherIsBetter]:
    """Each reported metric's direction in this run, for readers without the run's catalog.

    A user metric is declared only there. A metric the task does not declare is left out.
    """
    declared = set(task.metric_names())  # a corpus part reported beside them has none
    return {m: task.higher_is_better(m) for m in metrics if m in declared}


def _stderr(scores: AggregateScores, estimates: Mapping[str, Estimate]) -> dict[str, float | None]:
    """Every metric's SE; None (with a note) where it has none.

    An aggregator's own SE of an unclustered mean is kept as it is (the lm-eval parity
    tests compare it digit for digit); clustered and bootstrap ones replace it.
    """
    out: dict[str, float | None] = dict.fromkeys(scores.metrics)
    out |= {m: e.stderr for m, e in estimates.items()}
    clt = {m for m in scores.stderr if m not in estimates or estimates[m].method == "clt"}
    out |= {m: v for m, v in scores.stderr.items() if m in clt}
    return out
