"""The judge stage: an LLM judge scores the answers of judged tasks (GAVIE).

It runs after the evaluated model has answered. Each judged task says which of an item's
responses the judge sees and with what prompt (`JudgedTask.judge_requests`, any number per
item); the runner hands in a `Judge` whose `fetch` answers those requests from the judge's
own response cache, so a rerun pays nothing twice. The judge's text travels back on the
judged response (`Response.judgement`); a judge call that fails for good marks the item
failed (counted, retried on rerun), never scored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from sbt_bench.core.types import Request, Response, Sample
from sbt_bench.results.schema import JudgeRecord
from sbt_bench.results.usage import Price, estimate_cost, sum_usage
from sbt_bench.tasks.base import Task, is_judged

DEFAULT_JUDGE = "openai:gpt-4o-2024-08-06"
"""GPT-4-class and pinned; the LRV-Instruction leaderboard used gpt-4-32k-0314 (retired)."""


class PlannedTask(Protocol):
    """What the judge stage reads of a planned task (the runner's TaskPlan)."""

    @property
    def task(self) -> Task:
        """The task the samples belong to."""
        ...

    @property
    def samples(self) -> Sequence[Sample]:
        """The samples, in request order."""
        ...

    @property
    def requests(self) -> Sequence[Sequence[Request]]:
        """Each sample's requests to the evaluated model."""
        ...


@dataclass(frozen=True)
class Judge:
    """The judge model: its name, how its requests are answered, and its price if known."""

    name: str
    fetch: Callable[[Sequence[Request]], list[Response]]
    price: Price | None


def needs_judge(plans: Sequence[PlannedTask]) -> bool:
    """Whether any planned task is scored by a judge (only then is one built)."""
    return any(is_judged(plan.task) for plan in plans)


def judge_responses(
    plans: Sequence[PlannedTask], responses: list[Response], judge: Judge
) -> tuple[list[Response], dict[str, JudgeRecord]]:
    """Attach the judge's text to the judged responses; per-task judge facts for results.

    `responses` are the evaluated model's, in the plans' request order. Tasks without a
    judge pass through untouched.
    """
    todo: list[tuple[int, Request]] = []  # (index into responses, judge request)
    owners: list[str] = []
    offset = 0
    for plan in plans:
        for sample, requests in zip(plan.samples, plan.requests, strict=True):
            own = responses[offset : offset + len(requests)]
            if is_judged(plan.task) and all(r.error is None for r in own):
                for position, request in plan.task.judge_requests(sample, own):
                    todo.append((offset + position, request))
                    owners.append(plan.task.spec.task)
            offset += len(requests)
    verdicts = judge.fetch([request for _, request in todo])
    out = list(responses)
    for (index, _), verdict in zip(todo, verdicts, strict=True):
        if verdict.error is not None:
            out[index] = Response(error=f"judge {judge.name}: {verdict.error}")
        else:
            out[index] = replace(out[index], judgement=verdict.text)
    info: dict[str, JudgeRecord] = {}
    for plan in plans:
        if is_judged(plan.task):
            task = plan.task.spec.task
            mine = [v for v, owner in zip(verdicts, owners, strict=True) if owner == task]
            usage = sum_usage(mine)
            info[task] = JudgeRecord(
                model=judge.name,
                n_judged=len(mine),
                usage=usage,
                cost_usd=None if usage is None else estimate_cost(usage, judge.price),
                price=judge.price,
            )
    return out, info
