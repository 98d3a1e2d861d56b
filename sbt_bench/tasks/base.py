"""The Task protocol, item results, and the TaskSpec -> Task factory."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from sbt_bench.errors import SbtError
from sbt_bench.tasks.readers import Record
from sbt_bench.tasks.spec import TaskSpec
from sbt_bench.types import Request, Response, Sample


@dataclass(frozen=True)
class ItemResult:
    """One scored item, as written to `samples_<task>.jsonl`.

    `protocol` names how the scores were produced (see `sbt_bench.protocols`); `details`
    are further per-item facts written as they are (the letter order, a judge's text).
    """

    sample: Sample
    prediction: str
    scores: Mapping[str, float]
    loglikelihoods: tuple[float, ...] = ()
    is_greedy: tuple[bool, ...] = ()
    generation: str | None = None
    protocol: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskScores:
    """A task's aggregate: headline metrics with standard errors, plus optional breakdowns.

    `breakdown` maps a subset (MME subtask, OODCV situation, corruption@severity) to its own
    metrics; `notes` says why a metric is missing (e.g. SPICE without its assets), so an
    absent number is never mistaken for a zero.
    """

    metrics: Mapping[str, float]
    stderr: Mapping[str, float] = field(default_factory=dict)
    breakdown: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    notes: Mapping[str, str] = field(default_factory=dict)


Parser = Literal["default", "official"]


class Task(Protocol):
    """What the runner needs of a task kind."""

    @property
    def spec(self) -> TaskSpec:
        """The declarative definition the task was built from."""
        ...

    def metric_names(self) -> tuple[str, ...]:
        """Names of the metrics this task reports (means of per-item scores)."""
        ...

    def build_samples(self, index: int, record: Record, data_dir: Path | None) -> list[Sample]:
        """Turn the `index`-th record into its samples (one, or one per image variant)."""
        ...

    def requests(self, sample: Sample) -> list[Request]:
        """The backend requests that answer `sample`."""
        ...

    def score(self, sample: Sample, responses: Sequence[Response]) -> ItemResult:
        """Score one sample from the responses to its requests, in request order."""
        ...

    def aggregate(self, items: Sequence[ItemResult]) -> TaskScores:
        """The task's metrics over its scored items."""
        ...


def is_judged(spec: TaskSpec) -> bool:
    """Whether an LLM judge scores the task's answers (sbt_bench.judging): GAVIE."""
    return spec.scorer == "gavie_judge"


def build_task(
    spec: TaskSpec, parser: Parser = "default", *, mc_protocol: str = "loglikelihood", seed: int = 0
) -> Task:
    """The task kind named by `spec.kind`; `parser` picks the official answer parser if any.

    Multiple choice is asked under `mc_protocol`; `seed` fixes the option order of the
    `letters` protocol.
    """
    from sbt_bench.tasks.gavie import GavieTask  # noqa: PLC0415 - avoid import cycle
    from sbt_bench.tasks.generation import GenerationTask  # noqa: PLC0415
    from sbt_bench.tasks.letters import LetterChoiceTask  # noqa: PLC0415
    from sbt_bench.tasks.multiple_choice import MultipleChoiceTask  # noqa: PLC0415

    if spec.kind == "multiple_choice":
        if mc_protocol in ("letters", "letters-generated"):
            return LetterChoiceTask(spec, seed, read_top_logprobs=mc_protocol == "letters")
        return MultipleChoiceTask(spec)
    if is_judged(spec):
        return GavieTask(spec)
    return GenerationTask(spec, parser)


def render_context(spec: TaskSpec, record: Record, index: int) -> str:
    """The preamble (if any) joined to the prompt filled from the record's fields."""
    try:
        prompt = spec.prompt.format_map(record)
    except (KeyError, IndexError, ValueError) as err:
        raise SbtError(
            f"{spec.task}: item {index} cannot fill the prompt ({type(err).__name__}: {err})"
        ) from None
    return f"{spec.preamble}{spec.preamble_separator}{prompt}" if spec.preamble else prompt


def get_field(record: Record, dotted: str, task: str, index: int) -> Any:
    """`record["a"]["b"]` for "a.b", with an error naming the item when a key is missing."""
    value: Any = record
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise SbtError(f"{task}: item {index} has no field {dotted!r}; is the data file right?")
        value = value[part]
    return value
