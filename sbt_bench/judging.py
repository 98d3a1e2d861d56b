"""LLM-judged tasks (GAVIE): the judge prompt, parsing its verdict, and the judge stage.

The judge stage runs after the evaluated model has answered: every answered item of a
judged task becomes one request to the judge model, answered from its own response cache
(the run's cache file, keyed by the judge's fingerprint), so a rerun pays nothing twice.
The judge's text travels back on the candidate's response (`Response.judgement`); a judge
call that fails for good marks the item failed (counted, retried on rerun), never scored.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sbt_bench.tasks.base import is_judged
from sbt_bench.types import GenerationParams, Request, Response, Sample

if TYPE_CHECKING:
    from sbt_bench.runner import TaskPlan

MAX_SCORE = 10.0
DEFAULT_JUDGE = "openai:gpt-4o-2024-08-06"
"""GPT-4-class and pinned; the LRV-Instruction leaderboard used gpt-4-32k-0314 (retired)."""

GAVIE_HEADER = (
    "Given an image with following information: bounding box, positions that are the object "
    "left-top corner coordinates(X, Y), object sizes(Width, Height). Highly overlapping "
    "bounding boxes may refer to the same object.\n\nbounding box:\n"
)
GAVIE_CRITERIA = (
    "Suppose you are a smart teacher, after looking at the image information above, please "
    "score the above answers(0-10) according to the following criteria:\n"
    "1: whether the response directly follows the instruction.\n"
    "2: whether the response is accurate concerning the image content.\n\n"
)


@dataclass(frozen=True)
class Region:
    """A Visual Genome region: its description and box (left-top corner, width, height)."""

    caption: str
    x: int
    y: int
    width: int
    height: int

    def line(self, *, published_height_bug: bool = False) -> str:
        """The prompt line of the region; the published script printed the width twice."""
        height = self.width if published_height_bug else self.height
        return f"{self.caption} X:{self.x} Y:{self.y} Width:{self.width} Height:{height}"


def gavie_prompt(region_lines: Sequence[str], instruction: str, answers: Sequence[str]) -> str:
    """The GAVIE judge prompt (LRV-Instruction `Evaluation/evaluate.py`) for 1+ answers."""
    boxes = "".join(f"{line}\n" for line in region_lines)
    numbered = "".join(f"Answer{i}: {a}\n" for i, a in enumerate(answers, start=1))
    blocks = "".join(f"score of the answer{i}:\nreason:\n" for i in range(1, len(answers) + 1))
    return (
        f"{GAVIE_HEADER}{boxes}\n\nHere is the instruction for the image:\n{instruction}\n\n"
        f"{numbered}\n{GAVIE_CRITERIA}"
        f"Output format:\n\nRelevancy:\n{blocks}\nAccuracy:\n{blocks}\n"
    )


@dataclass(frozen=True)
class Verdict:
    """Scores (0-10) per answer from a judge's text; None where none could be read."""

    accuracy: tuple[float | None, ...]
    relevancy: tuple[float | None, ...]

    def parsed(self, answer: int = 0) -> bool:
        """Whether both scores of one answer were read."""
        return self.accuracy[answer] is not None and self.relevancy[answer] is not None


# A heading line ("Relevancy:", "**Accuracy**"), not a reason that starts with the word.
_SECTION = re.compile(
    r"^[\s*#>_-]*(relevancy|accuracy)\b[\s*_]*(?::|$)", re.IGNORECASE | re.MULTILINE
)
_SCORE = re.compile(
    # ":" or the full-width colon some judges write
    r"score\s+of\s+(?:the\s+)?answer\s*(\d+)\s*[*_]*\s*[:\uff1a]\s*[*_]*\s*(\d+(?:\.\d+)?)",
    re.IGNORECASE,
)


def parse_verdict(text: str, n_answers: int = 1) -> Verdict:
    r"""Read `score of the answer<i>: <0-10>` lines under the Relevancy and Accuracy headings.

    Either heading may come first, markdown emphasis is tolerated, and a score outside
    0-10, a missing heading or a missing answer leaves that score None (unparsed).

    Example:
        >>> parse_verdict("Relevancy:\\nscore of the answer1: 8\\nAccuracy:\\nscore of answer1: 6")
        Verdict(accuracy=(6.0,), relevancy=(8.0,))
    """
    found: dict[str, list[float | None]] = {
        "accuracy": [None] * n_answers,
        "relevancy": [None] * n_answers,
    }
    heads = list(_SECTION.finditer(text))
    for i, head in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        scores = found[head.group(1).lower()]
        for match in _SCORE.finditer(text, head.end(), end):
            index, value = int(match.group(1)) - 1, float(match.group(2))
            if 0 <= index < n_answers and scores[index] is None and 0 <= value <= MAX_SCORE:
                scores[index] = value
    return Verdict(tuple(found["accuracy"]), tuple(found["relevancy"]))


def judge_prompt_for(sample: Sample, answer: str) -> str:
    """The GAVIE prompt of one item: its region lines (`references`) and instruction."""
    return gavie_prompt(sample.references, sample.context, [answer])


def judge_responses(
    plans: Sequence[TaskPlan], responses: list[Response], folder: Path, judge: str | None
) -> tuple[list[Response], dict[str, dict[str, Any]]]:
    """Attach the judge's text to the answers of judged tasks; per-task judge facts.

    Tasks without a judge pass through untouched, and nothing is built or loaded when the
    run has no judged task.
    """
    judged = [is_judged(plan.task.spec) for plan in plans]
    if not any(judged):
        return responses, {}
    from sbt_bench.backends import BackendOptions, fingerprint, parse_model_spec  # noqa: PLC0415
    from sbt_bench.cache import ResponseCache  # noqa: PLC0415
    from sbt_bench.runner import LazyBackend, fetch_responses  # noqa: PLC0415
    from sbt_bench.usage import price_for, usage_entry  # noqa: PLC0415

    spec = parse_model_spec(judge or DEFAULT_JUDGE)
    options = BackendOptions()
    todo: list[tuple[int, Request]] = []
    offset, spans = 0, []
    for plan, plan_judged in zip(plans, judged, strict=True):
        start = offset
        for sample, requests in zip(plan.samples, plan.requests, strict=True):
            answer = responses[offset]
            if plan_judged and answer.error is None:
                prompt = judge_prompt_for(sample, (answer.text or "").strip())
                params = GenerationParams(max_new_tokens=1024)
                todo.append((offset, Request("generate", prompt, generation=params)))
            offset += len(requests)
        spans.append((start, offset))
    with ResponseCache(folder / "cache.sqlite", fingerprint(spec, options)) as cache:
        from sbt_bench.backends import build_backend  # noqa: PLC0415
        from sbt_bench.distributed import ProcessGroup  # noqa: PLC0415

        backend = LazyBackend(lambda: build_backend(spec, options))
        verdicts, _ = fetch_responses(
            [r for _, r in todo], backend, cache, f"judge {spec.name}", ProcessGroup()
        )
    out = list(responses)
    for (index, _), verdict in zip(todo, verdicts, strict=True):
        if verdict.error is not None:
            out[index] = Response(error=f"judge {spec.name}: {verdict.error}")
        else:
            out[index] = replace(out[index], judgement=verdict.text)
    info: dict[str, dict[str, Any]] = {}
    for plan, plan_judged, (start, end) in zip(plans, judged, spans, strict=True):
        if plan_judged:
            mine = [v for (i, _), v in zip(todo, verdicts, strict=True) if start <= i < end]
            info[plan.task.spec.task] = {
                "judge": {"model": spec.name, "n_judged": len(mine)}
                | usage_entry(mine, price_for(spec))
            }
    return out, info
