"""Yes/no answer parsing and scoring for MME, POPE and Sketchy-VQA.

Each benchmark's own script is reproduced by an `*_official` parser, quirks included; the
default parsers fix the quirks that turn a clear answer into the wrong label.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

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
    counts = np.asarray(confusion_columns(predictions, golds).sum(axis=0))
    metrics = binary_metrics(counts)
    return BinaryScores(
        **{name: float(metrics[name]) for name in BINARY_METRICS},
        n_unparseable=sum(p is None for p in predictions),
    )


BINARY_METRICS = ("accuracy", "precision", "recall", "f1", "yes_ratio")


def confusion_columns(
    predictions: Sequence[str | None], golds: Sequence[str]
) -> NDArray[np.float64]:
    """Per-item 0/1 columns tp, fp, tn, fn, predicted-yes, 1: their sums give the metrics."""
    p = np.asarray([x == YES for x in predictions]), np.asarray([x == NO for x in predictions])
    gold_yes = np.asarray([g == YES for g in golds])
    gold_no = np.asarray([g == NO for g in golds])
    if gold_yes.shape != p[0].shape:
        raise ValueError(f"{len(predictions)} predictions for {len(golds)} gold answers")
    columns = (p[0] & gold_yes, p[0] & gold_no, p[1] & gold_no, p[1] & gold_yes, p[0])
    return np.column_stack([*columns, np.ones_like(p[0])]).astype(np.float64)


def binary_metrics(sums: NDArray[np.float64]) -> dict[str, NDArray[np.float64]]:
    """Each metric of `BINARY_METRICS` from `confusion_columns` sums, shape (..., 6) -> (...).

    Vectorised over leading axes, so a bootstrap applies the very same formulas.
    """
    tp, fp, tn, fn, yes, n = np.moveaxis(np.asarray(sums, dtype=np.float64), -1, 0)
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    return {
        "accuracy": _ratio(tp + tn, tp + tn + fp + fn),
        "precision": precision,
        "recall": recall,
        "f1": _ratio(2 * precision * recall, precision + recall),
        "yes_ratio": _ratio(yes, n),
    }


def mme_subtask_score(correct: Sequence[bool], pairs: Sequence[str]) -> tuple[float, float]:
    """(acc, acc+) of one MME subtask, each in percent.

    `pairs[i]` names the image of answer i; acc+ is the share of images whose answers are
    all right (the eval tool's two consecutive questions per image).
    """
    acc, acc_plus = mme_metrics(mme_columns(correct, pairs).sum(axis=0))
    return float(acc), float(acc_plus)


def mme_columns(correct: Sequence[bool], pairs: Sequence[str]) -> NDArray[np.float64]:
    """Per-item columns correct, 1, image-both-right share, image share (sums: see below).

    Each item carries 1/size of its image, so an image sums to one whatever its size:
    resampling whole images (clusters) keeps acc+ a share of images.
    """
    by_image: dict[str, list[bool]] = {}
    for ok, image in zip(correct, pairs, strict=True):
        by_image.setdefault(image, []).append(ok)
    # An image missing one of its answers (a failed request, an odd --limit) cannot be
    # "both right": it counts in the denominator, never in the numerator.
    both = {k: len(v) == 2 and all(v) for k, v in by_image.items()}  # noqa: PLR2004 - a pair
    share = [1 / len(by_image[image]) for image in pairs]
    rows = [
        (float(ok), 1.0, both[image] * w, w)
        for ok, image, w in zip(correct, pairs, share, strict=True)
    ]
    return np.asarray(rows, dtype=np.float64).reshape(-1, 4)


def mme_metrics(sums: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(acc, acc+) in percent from `mme_columns` sums, shape (..., 4) -> (...)."""
    correct, answers, both, images = np.moveaxis(np.asarray(sums, dtype=np.float64), -1, 0)
    return 100 * _ratio(correct, answers), 100 * _ratio(both, images)


def _ratio(numerator: ArrayLike, denominator: ArrayLike) -> NDArray[np.float64]:
    """The ratio, 0 where the denominator is 0 (as the scripts guard their divisions)."""
    num, den = np.asarray(numerator, dtype=np.float64), np.asarray(denominator, dtype=np.float64)
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den != 0)


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
