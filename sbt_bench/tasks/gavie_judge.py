"""GAVIE's judge prompt (LRV-Instruction `Evaluation/evaluate.py`) and reading its verdict."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sbt_bench.core.types import Sample

MAX_SCORE = 10.0
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
