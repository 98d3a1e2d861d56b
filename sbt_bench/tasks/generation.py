"""Generation tasks: greedy decoding (with images where the task has them), then scoring."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from typing_extensions import Self

from sbt_bench.core import protocols as scoring_protocols
from sbt_bench.core.errors import SbtError
from sbt_bench.core.registry import Registry
from sbt_bench.core.types import (
    AggregateScores,
    GenerationParams,
    ItemResult,
    Request,
    Response,
    Sample,
)
from sbt_bench.media.images import ImageRef
from sbt_bench.metrics import GENERATION_SCORERS, METRIC_DIRECTIONS, ItemScorer
from sbt_bench.metrics.directions import MetricDirections
from sbt_bench.tasks.aggregators import AGGREGATORS
from sbt_bench.tasks.base import Parser, TaskOptions, get_field, render_context
from sbt_bench.tasks.readers import Record
from sbt_bench.tasks.source import locate_image
from sbt_bench.tasks.spec import CorruptionSpec, TaskSpec


@dataclass(frozen=True)
class GenerationTask:
    """One generation request per item, cut at the first stop string.

    `parser="official"` scores with the task's `official_scorer` (the benchmark's own
    script, quirks included) where it declares one.
    """

    spec: TaskSpec
    parser: Parser = "default"
    scorers: Registry[ItemScorer] = field(default=GENERATION_SCORERS, compare=False, repr=False)
    """Where `scorer` is looked up: the run's, which hold its user task folders' scorers."""
    directions: MetricDirections = field(default=METRIC_DIRECTIONS, compare=False, repr=False)
    """Where metric directions are looked up: the run's, with its user scorers' metrics."""

    @classmethod
    def from_spec(cls, spec: TaskSpec, options: TaskOptions) -> Self:
        """The task of `spec`, scored with the run's answer parser and scorers.

        Its scorer and aggregator are looked up now, so an unknown name stops the run
        before any model loads rather than after the model has answered.
        """
        task = cls(spec, options.parser, options.hooks.scorers, options.hooks.directions)
        try:
            task.metric_names()
        except SbtError as err:
            raise SbtError(f"task {spec.task}: generation.scorer/aggregate: {err}") from None
        return task

    @property
    def scorer(self) -> str:
        """The registered item scorer in use."""
        answer = self.spec.answer
        if self.parser == "official" and answer.official_scorer:
            return answer.official_scorer
        return answer.scorer

    def metric_names(self) -> tuple[str, ...]:
        """Everything the task reports: its aggregator's metrics, else its scorer's."""
        outputs = AGGREGATORS.get(self.spec.aggregate).outputs
        return outputs or self.scorers.get(self.scorer).outputs

    def higher_is_better(self, metric: str) -> bool | None:
        """The direction its aggregator or scorer declared for `metric` (in the run's)."""
        if metric not in self.metric_names():  # also imports a lazily registered aggregator
            raise SbtError(f"{self.spec.task} reports no metric {metric!r}")
        return self.directions.get(metric)

    def build_samples(self, index: int, record: Record, data_dir: Path | None) -> list[Sample]:
        """References from `references_field`; the image (and its corrupted variants) if any."""
        spec, answer = self.spec, self.spec.answer
        negatives = (
            get_field(record, answer.negatives_field, spec.task, index)
            if answer.negatives_field
            else []
        )
        sample = Sample(
            id=str(index),
            context=render_context(spec, record, index),
            references=_as_texts(get_field(record, answer.references_field, spec.task, index)),
            negatives=_as_texts(negatives),
            subset=self._field(record, spec.subset_field, index),
            pair=self._field(record, spec.pair_field, index),
            cluster=self._field(record, spec.cluster_by, index),
        )
        if spec.image is None:
            return [sample]
        image = locate_image(spec.image, record, data_dir, spec.task, index)
        if spec.cluster_by == spec.image.field:
            # One image file is one cluster: MME reuses file names across subtask folders.
            sample = replace(sample, cluster=str(image))
        if spec.corruption is None:
            return [replace(sample, images=(str(image),))]
        return [_variant(sample, ref) for ref in expand_corruptions(image, spec.corruption)]

    def _field(self, record: Record, name: str | None, index: int) -> str:
        return "" if name is None else str(get_field(record, name, self.spec.task, index))

    def requests(self, sample: Sample) -> list[Request]:
        """A single greedy generation with the task's budget and stop strings."""
        params = GenerationParams(self.spec.answer.max_new_tokens, self.spec.answer.stop)
        return [Request("generate", sample.context, generation=params, images=sample.images)]

    def score(self, sample: Sample, responses: Sequence[Response]) -> ItemResult:
        """Score the (optionally stripped) answer against the references."""
        text = responses[0].text or ""
        # The official scripts read the reply as it is (their quirks include whitespace).
        official = self.parser == "official" and self.spec.answer.official_scorer is not None
        answer = strip_thinking(text)
        answer = answer.strip() if self.spec.answer.strip_answer and not official else answer
        scorer = self.scorers.get(self.scorer)
        scores = scorer.score(answer, sample.references, sample.negatives)
        return ItemResult(
            sample=sample,
            prediction=answer,
            scores=dict(scores),
            generation=text,
            protocol=scoring_protocols.GENERATION,
        )

    def aggregate(self, items: Sequence[ItemResult]) -> AggregateScores:
        """The task's `aggregate` over its items (means of the item scores by default)."""
        return AGGREGATORS.get(self.spec.aggregate).aggregate(items, self.metric_names())


THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


def strip_thinking(text: str) -> str:
    """The answer without the reasoning model's thinking block (the generation keeps it).

    Everything up to the last `</think>` is thinking (templates that open the block in
    the prompt leave only the closing tag in the reply); an unclosed `<think>` (a reply
    cut by the token budget) leaves what came before it. Text without tags is unchanged.

    Example:
        >>> strip_thinking("<think>2 + 2 is 4</think> The answer is 4.")
        ' The answer is 4.'
    """
    if THINK_CLOSE in text:
        return text.rsplit(THINK_CLOSE, 1)[1]
    if THINK_OPEN in text:
        return text.split(THINK_OPEN, 1)[0]
    return text


def expand_corruptions(image: Path, spec: CorruptionSpec) -> list[ImageRef]:
    """The clean image (if kept) and one variant per corruption and severity, in that order."""
    from sbt_bench.media.corruptions import resolve_corruptions  # noqa: PLC0415 - vision extra

    variants = [ImageRef(image)] if spec.include_clean else []
    for name in resolve_corruptions(spec.names):
        variants += [ImageRef(image, name, severity) for severity in spec.severities]
    return variants


def _variant(sample: Sample, ref: ImageRef) -> Sample:
    """The sample showing one image variant, with its own id; `subset` names the variant."""
    if ref.corruption is None:
        return replace(sample, images=(str(ref),), subset="clean")
    variant = f"{ref.corruption}@{ref.severity}"
    return replace(sample, id=f"{sample.id}/{variant}", images=(str(ref),), subset=variant)


def _as_texts(value: object) -> tuple[str, ...]:
    """A list of strings as a tuple; a single answer as a one-element tuple."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value)
    raise SbtError(f"expected text or a list of texts, got {type(value).__name__}")
