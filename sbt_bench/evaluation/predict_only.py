"""`run --predict-only`: answers and samples files without scoring (lm-eval's `--predict_only`).

Each task's samples file holds the prompt, the choices' log-likelihoods or the generation,
and the gold answers; `sbt-bench score <task> --predictions <that file>` scores it later.
Its results.json entry is built as a scored run's is (`task_results.finish_task`), without
the numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from sbt_bench.core import protocols
from sbt_bench.core.types import ItemResult, Response, Sample
from sbt_bench.tasks.base import Task
from sbt_bench.tasks.letters import LetterChoiceTask

Answer = Callable[[Sample, Sequence[Response]], ItemResult]


def answer_item(task: Task) -> Answer:
    """How an item's answer is read without its scores, for `task`.

    Under the letters protocol the answer is the generated letter and the first token's
    top_logprobs: both are kept (`generation`, `top_logprobs`), so `score` reads the letter
    exactly as a scored run does.
    """
    if isinstance(task, LetterChoiceTask):
        return lambda sample, responses: _letter_answer(task, sample, responses)
    return _answer


def _answer(sample: Sample, responses: Sequence[Response]) -> ItemResult:
    """The model's answer to one sample, unscored: its most likely choice, or its text."""
    if sample.choices and all(r.logprob is not None for r in responses):
        lls = tuple(float(r.logprob or 0.0) for r in responses)
        best = max(range(len(lls)), key=lambda i: (lls[i], -i))
        greedy = tuple(bool(r.is_greedy) for r in responses)
        return ItemResult(
            sample,
            sample.choices[best],
            {},
            loglikelihoods=lls,
            is_greedy=greedy,
            protocol=protocols.LOGLIKELIHOOD,
        )
    text = responses[0].text or ""
    return ItemResult(sample, text, {}, generation=text, protocol=protocols.GENERATION)


def _letter_answer(
    task: LetterChoiceTask, sample: Sample, responses: Sequence[Response]
) -> ItemResult:
    """The letter read as the scored run reads it, its scores left out, its inputs kept."""
    item = task.score(sample, responses)
    tops = dict(responses[0].top_logprobs or {})
    return replace(item, scores={}, details={**item.details, "top_logprobs": tops})
