"""Yes/no answer parsing and scoring for MME, POPE and Sketchy-VQA.

Each benchmark's own script is reproduced by an `*_official` parser, quirks included; the
default parsers fix the quirks that turn a clear answer into the wrong label.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

YES, NO = "yes", "no"

_WORDS = re.compile(r"[a-z']+")


def parse_pope_official(text: str) -> str:
    """POPE's `evaluate.py` (and LLaVA's `eval_pope.py`, SBT's `pope_metric.py`).

    First sentence, commas dropped, split on single spaces; "No", "no" or "not" among the
    words means no, anything else yes. So an all-caps "NO" counts as yes.
    """
    words = text.split(".", maxsplit=1)[0].replace(",", "").split(" ")
    return NO if {"No", "not", "no"} & set(words) else YES


def parse_pope(text: str) -> str | None:
    """POPE's rule on case-folded words of the first sentence ("NO." and "no!" are no).

    A first sentence without a word (an empty answer, "...", "2") is unparseable (None):
    POPE's script counts it as yes, which rewards a model that says nothing.
    """
    words = set(_WORDS.findall(text.strip().split(".", maxsplit=1)[0].lower()))
    if not words:
        return None
    return NO if {"no", "not"} & words else YES


def parse_sketchy_official(text: str) -> str | None:
    """Unicorn's `sketchy_metric.py`: no-words first, then yes-words, else unparseable (None)."""
    words = set(text.replace(",", "").split(" "))
    if {"No", "not", "no"} & words:
        return NO
    if {"Yes", "yes", "yeah"} & words:
        return YES
    return None


def parse_sketchy(text: str) -> str | None:
    """The Sketchy rule on case-folded words stripped of punctuation ("No." is no)."""
    words = set(_WORDS.findall(text.lower()))
    if {"no", "not"} & words:
        return NO
    if {"yes", "yeah"} & words:
        return YES
    return None


def parse_mme_official(text: str) -> str:
    """MME's eval-tool `calculation.py`: lower-cased; exactly yes/no, else look in 4 characters.

    Returns "yes", "no" or "other" (which is scored wrong).
    """
    answer = text.lower()
    if answer in (YES, NO):
        return answer
    prefix = answer[:4]
    if YES in prefix:
        return YES
    if NO in prefix:
        return NO
    return "other"


def parse_mme(text: str) -> str:
    """The MME rule after stripping surrounding space and quotes, so ' "Yes"' is yes."""
    return parse_mme_official(text.strip().strip("\"'*` ").strip())


@dataclass(frozen=True)
class BinaryScores:
    """Yes-positive classification metrics; unparseable answers are counted, not scored."""

    accuracy: float
    precision: float
    recall: float
    f1: float
    yes_ratio: float
    n_unparseable: int

    def as_dict(self) -> dict[str, float]:
        """The metrics by name, as results report them."""
        return {
            "accuracy": self.accuracy,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "yes_ratio": self.yes_ratio,
            "unparseable": float(self.n_unparseable),
        }


def binary_scores(predictions: Sequence[str | None], golds: Sequence[str]) -> BinaryScores:
    """Accuracy, precision, recall and F1 with "yes" as positive, from the *predictions*.

    As in the original POPE and Sketchy scripts: unparseable predictions (None) count in
    the yes-ratio's denominator but in none of TP/FP/TN/FN. A ratio with a zero
    denominator is 0 (the scripts would divide by zero).
    """
    pairs = list(zip(predictions, golds, strict=True))
    tp = sum(p == YES and g == YES for p, g in pairs)
    fp = sum(p == YES and g == NO for p, g in pairs)
    tn = sum(p == NO and g == NO for p, g in pairs)
    fn = sum(p == NO and g == YES for p, g in pairs)
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    return BinaryScores(
        accuracy=_ratio(tp + tn, tp + tn + fp + fn),
        precision=precision,
        recall=recall,
        f1=_ratio(2 * precision * recall, precision + recall),
        yes_ratio=_ratio(sum(p == YES for p in predictions), len(predictions)),
        n_unparseable=sum(p is None for p in predictions),
    )


def mme_subtask_score(correct: Sequence[bool], pairs: Sequence[str]) -> tuple[float, float]:
    """(acc, acc+) of one MME subtask, each in percent.

    `pairs[i]` names the image of answer i; acc+ is the share of images whose answers are
    all right (the eval tool's two consecutive questions per image).
    """
    by_image: dict[str, list[bool]] = {}
    for ok, image in zip(correct, pairs, strict=True):
        by_image.setdefault(image, []).append(ok)
    acc = 100 * _ratio(sum(correct), len(correct))
    # An image missing one of its answers (a failed request, an odd --limit) cannot be
    # "both right": it counts in the denominator, never in the numerator.
    both = sum(len(v) == 2 and all(v) for v in by_image.values())  # noqa: PLR2004 - a pair
    acc_plus = 100 * _ratio(both, len(by_image))
    return acc, acc_plus


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def score_yes_no_item(
    parse: Callable[[str], str | None], answer: str, references: Sequence[str], _: Sequence[str]
) -> dict[str, float]:
    """Per-item scores of a yes/no question whose gold answer is `references[0]`.

    `pred_yes` and `parsed` let the task aggregate precision/recall from the predictions.
    """
    label = parse(answer)
    gold = references[0].strip().lower()
    return {
        "correct": float(label == gold),
        "pred_yes": float(label == YES),
        "parsed": float(label in (YES, NO)),
    }


def prediction_label(scores: Mapping[str, float]) -> str | None:
    """The parsed answer back from `score_yes_no_item`'s scores (None: unparseable)."""
    if not scores["parsed"]:
        return None
    return YES if scores["pred_yes"] else NO
