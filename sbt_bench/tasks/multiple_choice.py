"""Multiple-choice tasks scored by summed continuation log-likelihood."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from typing_extensions import Self

from sbt_bench.core import protocols as scoring_protocols
from sbt_bench.core.errors import SbtError
from sbt_bench.core.types import AggregateScores, ItemResult, Request, Response, Sample
from sbt_bench.metrics import CHOICE_DIRECTIONS, CHOICE_SCORERS
from sbt_bench.tasks.aggregators import mean_scores
from sbt_bench.tasks.base import TaskOptions, get_field, render_context
from sbt_bench.tasks.readers import Record
from sbt_bench.tasks.spec import TaskSpec


@dataclass(frozen=True)
class MultipleChoiceTask:
    """One log-likelihood request per choice; the prediction is the most likely choice."""

    spec: TaskSpec

    @classmethod
    def from_spec(cls, spec: TaskSpec, _options: TaskOptions) -> Self:
        """The task of `spec` (log-likelihood choice needs no run options)."""
        return cls(spec)

    def metric_names(self) -> tuple[str, ...]:
        """The result names declared in the YAML's `metrics` mapping."""
        return tuple(self.spec.choice.metrics)

    def higher_is_better(self, metric: str) -> bool | None:
        """The direction of the choice scorer the YAML names for `metric`."""
        if metric not in self.spec.choice.metrics:
            raise SbtError(f"{self.spec.task} reports no metric {metric!r}")
        scorer = self.spec.choice.metrics[metric]
        if scorer not in CHOICE_DIRECTIONS:
            raise SbtError(
                f"choice scorer {scorer!r} declares no direction; register it with "
                "register_choice_scorer(..., higher_is_better=...)"
            )
        return CHOICE_DIRECTIONS[scorer]

    def build_samples(self, index: int, record: Record, _data_dir: Path | None) -> list[Sample]:
        """Choices and gold indices from fixed words or from the record's fields."""
        spec, choice = self.spec, self.spec.choice
        where = f"{spec.task}: item {index}"
        if choice.choices_field:
            raw = get_field(record, choice.choices_field, spec.task, index)
            choices = read_choices(raw, f"{where}: field {choice.choices_field!r}")
        else:
            choices = choice.choices
        if choice.target_field is not None:
            field = choice.target_field
            value = get_field(record, field, spec.task, index)
            gold: tuple[int, ...] = (read_label(value, f"{where}: field {field!r}"),)
        else:
            field = choice.target_labels_field or ""
            labels = get_field(record, field, spec.task, index)
            if not isinstance(labels, (list, tuple)) or len(labels) != len(choices):
                raise SbtError(
                    f"{where}: field {field!r} must be a list of one 0/1 label per choice "
                    f"({len(choices)}), got {labels!r}"
                )
            flags = [read_label(v, f"{where}: field {field!r}") for v in labels]
            gold = tuple(i for i, flag in enumerate(flags) if flag == 1)
        if not gold or not all(0 <= g < len(choices) for g in gold):
            raise SbtError(
                f"{where}: field {field!r} gives gold {list(gold)}, but the item has "
                f"{len(choices)} choices (allowed: 0 to {len(choices) - 1}); fix the record"
            )
        context = render_context(spec, record, index)
        return [Sample(id=str(index), context=context, choices=choices, gold=gold)]

    def requests(self, sample: Sample) -> list[Request]:
        """`target_delimiter + choice` continuations of the shared context."""
        return [
            Request("loglikelihood", sample.context, self.spec.choice.target_delimiter + choice)
            for choice in sample.choices
        ]

    def score(self, sample: Sample, responses: Sequence[Response]) -> ItemResult:
        """Apply each declared choice scorer to the per-choice log-likelihoods."""
        lls = tuple(float(r.logprob) for r in responses if r.logprob is not None)
        if len(lls) != len(sample.choices):
            raise RuntimeError(f"{self.spec.task}: item {sample.id} lacks log-likelihoods")
        scores = {
            name: CHOICE_SCORERS.get(scorer)(lls, sample.gold)
            for name, scorer in self.spec.choice.metrics.items()
        }
        best = max(range(len(lls)), key=lambda i: (lls[i], -i))
        return ItemResult(
            sample=sample,
            prediction=sample.choices[best],
            scores=scores,
            loglikelihoods=lls,
            is_greedy=tuple(bool(r.is_greedy) for r in responses),
            protocol=scoring_protocols.LOGLIKELIHOOD,
        )

    def aggregate(self, items: Sequence[ItemResult]) -> AggregateScores:
        """Means (with standard errors) of the declared per-item metrics."""
        return mean_scores(items, self.metric_names())


def read_choices(raw: object, where: str) -> tuple[str, ...]:
    """A record's choices: a list of non-empty texts (a string would split into letters)."""
    if not isinstance(raw, (list, tuple)) or len(raw) < 2:  # noqa: PLR2004 - a choice needs two
        raise SbtError(f"{where} must be a list of at least two choices, got {raw!r}")
    if not all(isinstance(c, (str, int, float)) and str(c).strip() for c in raw):
        raise SbtError(f"{where} holds an empty or non-text choice: {list(raw)!r}")
    return tuple(str(c) for c in raw)


def read_label(value: object, where: str) -> int:
    """A gold index or 0/1 label: an integer (1.0 and "1" pass; NaN, 1.5, true do not)."""
    if isinstance(value, bool):
        raise SbtError(f"{where} is {value!r}; write the label as an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise SbtError(f"{where} is {value!r}, not an integer label; fix the record")
