"""The Task protocol, the registry of task kinds, and the TaskSpec -> Task factory."""

from __future__ import annotations

import functools
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, TypeGuard

from sbt_bench.core.errors import SbtError
from sbt_bench.core.registry import Registry
from sbt_bench.core.types import AggregateScores, ItemResult, Request, Response, Sample
from sbt_bench.tasks.hooks import BUNDLED_HOOKS, TaskHooks
from sbt_bench.tasks.readers import Record
from sbt_bench.tasks.spec import TaskSpec

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

    def higher_is_better(self, metric: str) -> bool | None:
        """Which way `metric` is better: True higher, False lower, None no direction."""
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

    def aggregate(self, items: Sequence[ItemResult]) -> AggregateScores:
        """The task's metrics over its scored items."""
        ...


class JudgedTask(Task, Protocol):
    """A task whose answers an LLM judge scores (see `sbt_bench.evaluation.judge`)."""

    def judge_requests(
        self, sample: Sample, responses: Sequence[Response]
    ) -> list[tuple[int, Request]]:
        """(position among the item's responses, the judge request about that response)."""
        ...


def is_judged(task: Task) -> TypeGuard[JudgedTask]:
    """Whether an LLM judge scores the task's answers (GAVIE)."""
    return task.spec.kind == "judged"


@dataclass(frozen=True)
class TaskOptions:
    """Run settings that choose how a task is asked and scored.

    `parser` picks the official answer parser where a task has one; multiple choice is
    asked under `mc_protocol`, and `seed` fixes the option order of the letters protocols.
    `hooks` resolve the spec's scorer name (a run's user scorers live in its catalog's).
    """

    parser: Parser = "default"
    mc_protocol: str = "loglikelihood"
    seed: int = 0
    hooks: TaskHooks = BUNDLED_HOOKS


TaskFactory = Callable[[TaskSpec, TaskOptions], Task]

TASK_KINDS: Registry[TaskFactory] = Registry("task kind")
TASK_KINDS.register(
    "multiple_choice", "sbt_bench.tasks.multiple_choice:MultipleChoiceTask.from_spec"
)
TASK_KINDS.register("multiple_choice/letters", "sbt_bench.tasks.letters:LetterChoiceTask.from_spec")
for _kind in ("generation", "yes_no", "caption"):
    TASK_KINDS.register(_kind, "sbt_bench.tasks.generation:GenerationTask.from_spec")
TASK_KINDS.register("judged", "sbt_bench.tasks.gavie:GavieTask.from_spec")

LETTER_PROTOCOLS = ("letters", "letters-generated")


def build_task(
    spec: TaskSpec,
    parser: Parser = "default",
    *,
    mc_protocol: str = "loglikelihood",
    seed: int = 0,
    hooks: TaskHooks = BUNDLED_HOOKS,
) -> Task:
    """The task of `spec`, built by the class registered for its kind (and protocol).

    `hooks`: the run's catalog's, where a user task's own scorer is registered.
    """
    kind: str = spec.kind
    if kind == "multiple_choice" and mc_protocol in LETTER_PROTOCOLS:
        kind = "multiple_choice/letters"
    return TASK_KINDS.get(kind)(spec, TaskOptions(parser, mc_protocol, seed, hooks))


def render_context(spec: TaskSpec, record: Record, index: int) -> str:
    """The preamble (if any) joined to the prompt filled from the record's fields."""
    for name in _prompt_fields(spec.prompt):
        value = record.get(name) if isinstance(record, Mapping) else None
        if value is None or (isinstance(value, str) and not value.strip()):
            raise SbtError(
                f"{spec.task}: item {index} has an empty field {name!r}, which the prompt "
                "asks for; fill it in or remove the item"
            )
    try:
        prompt = spec.prompt.format_map(record)
    except (KeyError, IndexError, ValueError) as err:
        raise SbtError(
            f"{spec.task}: item {index} cannot fill the prompt ({type(err).__name__}: {err})"
        ) from None
    return f"{spec.preamble}{spec.preamble_separator}{prompt}" if spec.preamble else prompt


@functools.cache
def _prompt_fields(prompt: str) -> tuple[str, ...]:
    """The record fields a prompt template fills (`{question}` -> question)."""
    try:
        parsed = string.Formatter().parse(prompt)
        return tuple({name.split(".")[0].split("[")[0]: None for _, name, _, _ in parsed if name})
    except ValueError:
        return ()  # a malformed template: format_map reports it


def get_field(record: Record, dotted: str, task: str, index: int) -> Any:
    """`record["a"]["b"]` for "a.b", with an error naming the item when a key is missing."""
    value: Any = record
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise SbtError(f"{task}: item {index} has no field {dotted!r}; is the data file right?")
        value = value[part]
    return value
