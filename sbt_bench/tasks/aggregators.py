"""Task-level aggregation: from scored items to a task's metrics, named by `aggregate:` in YAML.

Most tasks report means of per-item scores; MME, POPE, Sketchy-VQA, OODCV-VQA and
captioning need corpus-level numbers (precision from predictions, acc+ over image pairs,
CIDEr over the whole set).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from sbt_bench.core.registry import Registry
from sbt_bench.core.types import AggregateScores, ItemResult
from sbt_bench.metrics.directions import METRIC_DIRECTIONS, HigherIsBetter
from sbt_bench.metrics.oodcv import is_yes_no
from sbt_bench.metrics.stats import mean, stderr_of_mean
from sbt_bench.metrics.yes_no import binary_scores, mme_subtask_score, prediction_label

Aggregator = Callable[[Sequence[ItemResult], tuple[str, ...]], AggregateScores]

MME_PERCEPTION = (
    "existence", "count", "position", "color", "posters",
    "celebrity", "scene", "landmark", "artwork", "OCR",
)  # fmt: skip
MME_COGNITION = (
    "commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning",
)  # fmt: skip


@dataclass(frozen=True)
class Aggregation:
    """An aggregator and the headline metrics it reports (`sbt-bench list`, leaderboards).

    Empty `outputs` mean the task's own item scores (the `mean` of each). Outputs are
    declared with their direction (in `METRIC_DIRECTIONS`), as `register_aggregator` does:
    aggregators are process-wide, so their metrics' directions are too.
    """

    aggregate: Aggregator
    outputs: tuple[str, ...] = ()


AGGREGATORS: Registry[Aggregation] = Registry("aggregator")
# Captioning (COCO, Flickr30k, MSCOCO-C) needs the vision extra: imported on first use.
AGGREGATORS.register("caption", "sbt_bench.tasks.caption_aggregators:CAPTION")
AGGREGATORS.register("caption_corruptions", "sbt_bench.tasks.caption_aggregators:CORRUPTIONS")


def register_aggregator(
    name: str, outputs: Mapping[str, HigherIsBetter]
) -> Callable[[Aggregator], Aggregator]:
    """Decorator: register an aggregator with the headline metrics it reports.

    Each output declares its direction: True higher is better, False lower, None none.
    """

    def decorate(fn: Aggregator) -> Aggregator:
        AGGREGATORS.register(name, Aggregation(fn, METRIC_DIRECTIONS.declare(outputs)))
        return fn

    return decorate


def mean_scores(items: Sequence[ItemResult], names: tuple[str, ...]) -> AggregateScores:
    """The mean and its standard error of each per-item score."""
    metrics, stderr = {}, {}
    for name in names:
        values = [item.scores[name] for item in items]
        metrics[name], stderr[name] = mean(values), stderr_of_mean(values)
    return AggregateScores(metrics, stderr)


AGGREGATORS.register("mean", Aggregation(mean_scores))


@register_aggregator(
    "binary",
    {
        "accuracy": True,
        "precision": True,
        "recall": True,
        "f1": True,
        "yes_ratio": None,  # the share of "yes" answers: best at the data's 0.5, not at an end
        "unparseable": False,
    },
)
def binary_classification(items: Sequence[ItemResult], _: tuple[str, ...]) -> AggregateScores:
    """POPE / Sketchy-VQA: yes-positive metrics from the model's parsed predictions."""
    scores = binary_scores(
        [prediction_label(item.scores) for item in items],
        [item.sample.references[0].strip().lower() for item in items],
    )
    return AggregateScores(
        scores.as_dict(),
        notes={"unparseable": "answers with neither yes nor no; in no cell of the confusion"},
    )


@register_aggregator("mme", {"perception": True, "cognition": True, "total": True})
def mme_scores(items: Sequence[ItemResult], _: tuple[str, ...]) -> AggregateScores:
    """Per-subtask acc, acc+ and score (= acc + acc+); perception, cognition and their sum."""
    by_subtask: dict[str, list[ItemResult]] = {}
    for item in items:
        by_subtask.setdefault(item.sample.subset, []).append(item)
    breakdown: dict[str, Mapping[str, float]] = {}
    for subtask, members in by_subtask.items():
        acc, acc_plus = mme_subtask_score(
            [bool(m.scores["correct"]) for m in members], [m.sample.pair for m in members]
        )
        breakdown[subtask] = {"acc": acc, "acc_plus": acc_plus, "score": acc + acc_plus}
    perception = sum((breakdown[s]["score"] for s in MME_PERCEPTION if s in breakdown), 0.0)
    cognition = sum((breakdown[s]["score"] for s in MME_COGNITION if s in breakdown), 0.0)
    absent = [s for s in (*MME_PERCEPTION, *MME_COGNITION) if s not in breakdown]
    notes = {"subtasks": f"missing {absent}: totals are partial"} if absent else {}
    return AggregateScores(
        {"perception": perception, "cognition": cognition, "total": perception + cognition},
        breakdown=breakdown,
        notes=notes,
    )


@register_aggregator("oodcv", {"accuracy": True, "yes_no_accuracy": True, "digits_accuracy": True})
def oodcv_scores(items: Sequence[ItemResult], _: tuple[str, ...]) -> AggregateScores:
    """Overall, yes/no and count accuracy; per situation and per gold count."""
    yes_no = [i for i in items if is_yes_no(i.sample.references[0])]
    digits = [i for i in items if not is_yes_no(i.sample.references[0])]
    metrics = {
        "accuracy": _accuracy(items),
        "yes_no_accuracy": _accuracy(yes_no),
        "digits_accuracy": _accuracy(digits),
    }
    breakdown: dict[str, Mapping[str, float]] = {}
    for situation in sorted({i.sample.subset for i in items}):
        members = [i for i in items if i.sample.subset == situation]
        breakdown[situation] = {
            "accuracy": _accuracy(members),
            "yes_no": _accuracy([i for i in members if is_yes_no(i.sample.references[0])]),
            "number": _accuracy([i for i in members if not is_yes_no(i.sample.references[0])]),
        }
    # Per gold count, overall and per situation (the script's `detailed_number`).
    by_count: dict[str, dict[str, list[ItemResult]]] = {}
    for item in digits:
        groups = by_count.setdefault(item.sample.references[0], {})
        groups.setdefault("", []).append(item)
        groups.setdefault(item.sample.subset, []).append(item)
    for count in sorted(by_count, key=lambda c: (len(c), c)):  # "2" before "10"
        breakdown[f"count={count}"] = {
            situation or "accuracy": _accuracy(members)
            for situation, members in sorted(by_count[count].items())
        }
    return AggregateScores(
        metrics, {"accuracy": stderr_of_mean([i.scores["correct"] for i in items])}, breakdown
    )


def _accuracy(items: Sequence[ItemResult]) -> float:
    return mean([item.scores["correct"] for item in items]) if items else float("nan")
