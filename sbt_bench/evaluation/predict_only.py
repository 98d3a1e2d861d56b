"""`run --predict-only`: answers and samples files without scoring (lm-eval's `--predict_only`).

Each task's samples file holds the prompt, the choices' log-likelihoods or the generation,
and the gold answers; `sbt-bench score <task> --predictions <that file>` scores it later.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sbt_bench.core.types import HubRevision, Response, Sample
from sbt_bench.evaluation import judge as judging
from sbt_bench.evaluation.prompting import task_hash
from sbt_bench.results.folder import TaskOutput
from sbt_bench.results.records import TaskResult, collect_items, render_samples
from sbt_bench.tasks import ItemResult


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


def predicted_outputs(
    plans: Sequence[PlannedTask], responses: Sequence[Response], limit: float | None
) -> dict[str, TaskOutput]:
    """Every task's unscored entry (no metrics) and samples file, by task name."""
    outputs, offset = {}, 0
    for plan in plans:
        spec = plan.task.spec
        items, failures = collect_items(
            plan.samples, plan.requests, responses[offset:], answer_item
        )
        offset += sum(len(r) for r in plan.requests)
        result = TaskResult(
            task=spec.task,
            version=spec.version,
            spec_hash=task_hash(spec, plan.prompt),
            n_samples=len(items),
            n_available=plan.n_available,
            limit=limit,
            metrics={},
            stderr={},
            data_source=plan.data_source,
            data_revision=plan.data_revision,
            missing_images=plan.missing_images,
            n_requests=sum(len(r) for r in plan.requests),
            failures=tuple(failures),
            prompt=plan.prompt,
        )
        entry = result.to_json() | {"predict_only": True}
        outputs[spec.task] = TaskOutput(entry, render_samples(items))
    return outputs


def answer_item(sample: Sample, responses: Sequence[Response]) -> ItemResult:
    """The model's answer to one sample, unscored: its most likely choice, or its text."""
    if sample.choices and all(r.logprob is not None for r in responses):
        lls = tuple(float(r.logprob or 0.0) for r in responses)
        best = max(range(len(lls)), key=lambda i: (lls[i], -i))
        greedy = tuple(bool(r.is_greedy) for r in responses)
        return ItemResult(sample, sample.choices[best], {}, loglikelihoods=lls, is_greedy=greedy)
    text = responses[0].text or ""
    return ItemResult(sample, text, {}, generation=text)
