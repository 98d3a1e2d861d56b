"""Generation tasks: greedy decoding, then reference-based scoring of the answer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sbt_bench import protocols
from sbt_bench.metrics import GENERATION_SCORER_OUTPUTS, GENERATION_SCORERS
from sbt_bench.tasks.base import ItemResult, get_field, render_context
from sbt_bench.tasks.readers import Record
from sbt_bench.tasks.spec import TaskSpec
from sbt_bench.types import GenerationParams, Request, Response, Sample


@dataclass(frozen=True)
class GenerationTask:
    """One generation request per item, cut at the first stop string."""

    spec: TaskSpec

    def metric_names(self) -> tuple[str, ...]:
        """Everything the task's scorer reports."""
        assert self.spec.scorer is not None
        return GENERATION_SCORER_OUTPUTS[self.spec.scorer]

    def build_sample(self, index: int, record: Record) -> Sample:
        """True references from `references_field`, false ones from `negatives_field`."""
        spec = self.spec
        assert spec.references_field is not None
        refs = get_field(record, spec.references_field, spec.task, index)
        negs = (
            get_field(record, spec.negatives_field, spec.task, index)
            if spec.negatives_field
            else []
        )
        return Sample(
            id=str(index),
            context=render_context(spec, record, index),
            references=tuple(refs),
            negatives=tuple(negs),
        )

    def requests(self, sample: Sample) -> list[Request]:
        """A single greedy generation with the task's budget and stop strings."""
        params = GenerationParams(self.spec.generation.max_new_tokens, self.spec.generation.stop)
        return [Request("generate", sample.context, generation=params)]

    def score(self, sample: Sample, responses: Sequence[Response]) -> ItemResult:
        """Score the (optionally stripped) answer against the references."""
        assert self.spec.scorer is not None
        text = responses[0].text or ""
        answer = text.strip() if self.spec.strip_answer else text
        scores = GENERATION_SCORERS.get(self.spec.scorer)(
            answer, sample.references, sample.negatives
        )
        return ItemResult(
            sample=sample,
            prediction=answer,
            scores=dict(scores),
            generation=text,
            protocol=protocols.GENERATION,
        )
