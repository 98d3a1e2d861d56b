"""Flipped items: items one model got right and the other wrong, on any 0/1 item score."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sbt_bench.core.types import ItemResult

# Why a compared task lists no flipped item (shown in `compare` and the report).
NO_BINARY_SCORE = (
    "no per-item score of this task reads as correct/incorrect (0/1): its metrics are "
    "continuous (e.g. mc2's probability mass) or corpus-level, so no item can flip"
)
NO_FLIP = "the two models score every item alike on {metrics}: no item flipped"
# 0/1 item scores that record what was answered, not whether it was right.
NOT_CORRECTNESS = frozenset({"pred_yes", "parsed"})


@dataclass(frozen=True)
class Flip:
    """An item one model got right and the other wrong on a 0/1 per-item score (`metric`)."""

    task: str
    metric: str
    id: str
    direction: str
    prompt: str
    reference: str
    base_answer: str
    other_answer: str


def binary_scores(base: Sequence[ItemResult], other: Sequence[ItemResult]) -> list[str]:
    """The per-item scores that read as correct/incorrect: 0 or 1 on every paired item.

    Decided per score over the whole task, so a continuous score (mc2's mass) that
    happens to be 0 or 1 on one item never counts as flipping there.
    """
    by_id = {item.sample.id: item for item in other}
    pairs = [(a, by_id[a.sample.id]) for a in base if a.sample.id in by_id]
    names = dict.fromkeys(k for a, _ in pairs for k in a.scores if k not in NOT_CORRECTNESS)
    return [
        name
        for name in names
        if pairs
        and all(
            name in a.scores and name in b.scores and {a.scores[name], b.scores[name]} <= {0.0, 1.0}
            for a, b in pairs
        )
    ]


def find_flips(task: str, base: Sequence[ItemResult], other: Sequence[ItemResult]) -> list[Flip]:
    """Items whose 0/1 score differs between the runs, per such score, in base order.

    Every per-item score with a correct/incorrect reading counts (`acc`, `correct`,
    TruthfulQA's `bleu_acc`, `rouge1_acc`, ...), each flip naming its score.
    """
    by_id = {item.sample.id: item for item in other}
    flips = []
    for key in binary_scores(base, other):
        for a in base:
            b = by_id.get(a.sample.id)
            if b is None or a.scores[key] == b.scores[key]:
                continue
            flips.append(
                Flip(
                    task=task,
                    metric=key,
                    id=a.sample.id,
                    direction="wrong->right" if b.scores[key] else "right->wrong",
                    prompt=a.sample.context,
                    reference=_reference(a),
                    base_answer=a.prediction,
                    other_answer=b.prediction,
                )
            )
    return flips


def explain_no_flips(
    base: Sequence[ItemResult], other: Sequence[ItemResult], flips: Sequence[Flip]
) -> str | None:
    """Why a task has no flipped item; None where it has some."""
    if flips:
        return None
    binary = binary_scores(base, other)
    if not binary:
        return NO_BINARY_SCORE
    return NO_FLIP.format(metrics=", ".join(binary))


def _reference(item: ItemResult) -> str:
    sample = item.sample
    if sample.choices:
        return " | ".join(sample.choices[i] for i in sample.gold)
    return " | ".join(sample.references)
