"""Items that flipped between the base and another model: wrong to right, right to wrong."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sbt_bench.baseline import RunEntry, read_samples


@dataclass(frozen=True)
class Flip:
    """One item both models scored, right for exactly one of them."""

    item_id: str
    context: str
    gold: str
    base_answer: str
    other_answer: str


@dataclass(frozen=True)
class FlipList:
    """The flips of one model against the base on one column's 0/1 metric."""

    model: str
    label: str
    task: str
    metric: str
    gained: tuple[Flip, ...]
    lost: tuple[Flip, ...]
    n_paired: int


def find_flips(
    base: RunEntry, other: RunEntry, label: str, task: str, metric: str
) -> FlipList | None:
    """The flipped items of `task`, or None when the metric is not 0/1 or items do not pair."""
    records = [read_samples(entry.folder, task) for entry in (base, other)]
    first, second = records
    if first is None or second is None or first.keys() != second.keys():
        return None
    pairs = [(first[i], second[i]) for i in sorted(first, key=_natural)]
    scores = [(_score(a, metric), _score(b, metric)) for a, b in pairs]
    if any(s not in (0.0, 1.0) for pair in scores for s in pair):
        return None
    flips = [(_flip(a, b), s) for (a, b), s in zip(pairs, scores, strict=True) if s[0] != s[1]]
    return FlipList(
        model=other.name,
        label=label,
        task=task,
        metric=metric,
        gained=tuple(f for f, (was, _) in flips if was == 0.0),
        lost=tuple(f for f, (was, _) in flips if was == 1.0),
        n_paired=len(pairs),
    )


def _score(record: dict[str, Any], metric: str) -> float | None:
    value = record.get("scores", {}).get(metric)
    return None if value is None else float(value)


def _flip(base: dict[str, Any], other: dict[str, Any]) -> Flip:
    return Flip(
        item_id=str(base["id"]),
        context=str(base.get("context", "")),
        gold=_gold(base),
        base_answer=_answer(base),
        other_answer=_answer(other),
    )


def _answer(record: dict[str, Any]) -> str:
    """What the model said: its generation where it wrote one, else the chosen option."""
    generation = record.get("generation")
    return str(generation if generation is not None else record.get("prediction", ""))


def _gold(record: dict[str, Any]) -> str:
    """The correct option(s), or the first true reference of a generation task."""
    choices, gold = record.get("choices"), record.get("gold")
    if choices and gold:
        return " | ".join(str(choices[g]) for g in gold if 0 <= g < len(choices))
    references = record.get("references") or [""]
    return str(references[0])


def _natural(item_id: str) -> tuple[int, str]:
    """Numeric ids in numeric order (they are file positions), others after them."""
    return (int(item_id), "") if item_id.isdigit() else (2**63, item_id)
