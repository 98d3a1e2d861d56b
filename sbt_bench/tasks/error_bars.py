"""Error bars of a task's metrics, and paired comparisons, from its scored items.

Each aggregator (`aggregate:` in YAML) says how its metrics come from items: a mean of an
item score (analytic, cluster-robust where the task declares `cluster_by`), or a function
of column sums (`metrics.intervals.CorpusMetrics`, bootstrapped with the same formulas
`metrics.yes_no` computes the numbers with). Caption metrics have neither: pycocoevalcap
scores the corpus as a whole (CIDEr's IDF, BLEU's brevity penalty), so each resample
would need the Java scorers again; they get no error bar and a note saying so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from sbt_bench.core.types import ItemResult
from sbt_bench.metrics.intervals import (
    DEFAULT_RESAMPLES,
    Array,
    CorpusMetrics,
    Estimate,
    estimate_corpus,
    estimate_mean,
)
from sbt_bench.metrics.oodcv import is_yes_no
from sbt_bench.metrics.paired import PairedComparison, compare_corpus, compare_means
from sbt_bench.metrics.yes_no import (
    binary_metrics,
    confusion_columns,
    mme_columns,
    mme_metrics,
    prediction_label,
)
from sbt_bench.tasks.aggregators import MME_COGNITION, MME_PERCEPTION
from sbt_bench.tasks.spec import TaskSpec

# Counts of unusable answers, not estimates of anything: reported without an error bar.
COUNT_METRICS = {
    "unparseable": "a count of answers, not an estimate: no error bar",
    "unparsed_judgements": "a count of judgements, not an estimate: no error bar",
}
# The range of one item's score, where the scorer fixes it: intervals of a mean (and of
# a difference of means) are kept inside it. 0/1 scores need no entry: they get the
# Wilson and Newcombe intervals, which stay in [0, 1] and [-1, 1] by construction.
_OVERLAP_BOUNDS = {"max": (0.0, 100.0), "diff": (-100.0, 100.0), "acc": (0.0, 1.0)}
_JUDGE_BOUNDS = (0.0, 10.0)  # GAVIE's judge scores accuracy and relevancy 0-10
_CHOICE_BOUNDS = (0.0, 1.0)  # choice accuracy and mc2's probability mass
Bounds = tuple[float, float]

CAPTION_NOTE = (
    "corpus metric scored by pycocoevalcap over the whole set (IDF, brevity penalty); "
    "a bootstrap would rerun the Java scorers per resample: no error bar"
)


@dataclass(frozen=True)
class TaskColumns:
    """What a task's metrics are computed from, per item.

    Attributes:
        means: metric -> per-item score; NaN where the item is not in the metric (an
            unreadable judgement, a count question in OODCV's yes/no accuracy).
        corpus: the corpus-level metrics, if the aggregator has any.
        missing: metric -> why it has no error bar.
    """

    means: Mapping[str, Array] = field(default_factory=dict)
    corpus: CorpusMetrics | None = None
    missing: Mapping[str, str] = field(default_factory=dict)


ColumnBuilder = Callable[[Sequence[ItemResult], tuple[str, ...]], TaskColumns]


def _mean_columns(items: Sequence[ItemResult], names: tuple[str, ...]) -> TaskColumns:
    means = {
        name: np.asarray([item.scores.get(name, math.nan) for item in items], dtype=np.float64)
        for name in names
        if name not in COUNT_METRICS
    }
    return TaskColumns(means, missing={n: COUNT_METRICS[n] for n in names if n in COUNT_METRICS})


def _binary_columns(items: Sequence[ItemResult], _: tuple[str, ...]) -> TaskColumns:
    columns = confusion_columns(
        [prediction_label(item.scores) for item in items],
        [item.sample.references[0].strip().lower() for item in items],
    )
    missing = {"unparseable": COUNT_METRICS["unparseable"]}
    return TaskColumns(corpus=CorpusMetrics(columns, binary_metrics), missing=missing)


def _mme_columns(items: Sequence[ItemResult], _: tuple[str, ...]) -> TaskColumns:
    """Four columns per subtask (zero outside it), so one sum gives every subtask's score."""
    subtasks = list(dict.fromkeys(item.sample.subset for item in items))
    columns = np.zeros((len(items), 4 * len(subtasks)))
    for j, subtask in enumerate(subtasks):
        rows = [i for i, item in enumerate(items) if item.sample.subset == subtask]
        members = [items[i] for i in rows]
        columns[rows, 4 * j : 4 * j + 4] = mme_columns(
            [bool(m.scores["correct"]) for m in members], [m.sample.pair for m in members]
        )

    perception = [j for j, s in enumerate(subtasks) if s in MME_PERCEPTION]
    cognition = [j for j, s in enumerate(subtasks) if s in MME_COGNITION]
    everything = range(len(subtasks))

    def scores(sums: Array) -> dict[str, Array]:
        by_subtask = [np.add(*mme_metrics(sums[..., 4 * j : 4 * j + 4])) for j in everything]
        zero = np.zeros(sums.shape[:-1])
        p = sum((by_subtask[j] for j in perception), zero)
        c = sum((by_subtask[j] for j in cognition), zero)
        return {"perception": p, "cognition": c, "total": p + c}

    return TaskColumns(corpus=CorpusMetrics(columns, scores))


def _oodcv_columns(items: Sequence[ItemResult], _: tuple[str, ...]) -> TaskColumns:
    correct = np.asarray([item.scores["correct"] for item in items], dtype=np.float64)
    yes_no = np.asarray([is_yes_no(item.sample.references[0]) for item in items], dtype=bool)
    return TaskColumns(
        {
            "accuracy": correct,
            "yes_no_accuracy": np.where(yes_no, correct, math.nan),
            "digits_accuracy": np.where(yes_no, math.nan, correct),
        }
    )


def _caption_columns(_: Sequence[ItemResult], names: tuple[str, ...]) -> TaskColumns:
    return TaskColumns(missing=dict.fromkeys(names, CAPTION_NOTE))


COLUMN_BUILDERS: dict[str, ColumnBuilder] = {
    "mean": _mean_columns,
    "binary": _binary_columns,
    "mme": _mme_columns,
    "oodcv": _oodcv_columns,
    "caption": _caption_columns,
    "caption_corruptions": _caption_columns,
}


def score_bounds(spec: TaskSpec, names: Sequence[str]) -> dict[str, Bounds]:
    """The range of each per-item score of `spec` that its scorer fixes (others: unknown).

    Example:
        >>> from sbt_bench.tasks import TASKS
        >>> score_bounds(TASKS.get("truthfulqa_mc2"), ("acc",))
        {'acc': (0.0, 1.0)}
    """
    out: dict[str, Bounds] = {}
    for name in names:
        if spec.kind == "multiple_choice":
            out[name] = _CHOICE_BOUNDS
        elif spec.kind == "judged" and name in {"accuracy", "relevancy"}:
            out[name] = _JUDGE_BOUNDS
        elif name.rpartition("_")[2] in _OVERLAP_BOUNDS and name.startswith(("bleu", "rouge")):
            out[name] = _OVERLAP_BOUNDS[name.rpartition("_")[2]]
    return out


def error_bar_notes(missing: Mapping[str, str]) -> dict[str, str]:
    """`stderr:<metric>` -> why it has no error bar; one `stderr` note when all share it."""
    reasons = set(missing.values())
    if len(missing) > 1 and len(reasons) == 1:
        return {"stderr": f"{reasons.pop()} ({', '.join(missing)})"}
    return {f"stderr:{metric}": why for metric, why in missing.items()}


def item_clusters(items: Sequence[ItemResult]) -> list[str] | None:
    """Each item's cluster (its id where it has none); None when no item declares one."""
    if not any(item.sample.cluster for item in items):
        return None
    return [item.sample.cluster or f"item:{item.sample.id}" for item in items]


def task_estimates(
    aggregate: str,
    items: Sequence[ItemResult],
    names: tuple[str, ...],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    bounds: Mapping[str, Bounds] | None = None,
) -> tuple[dict[str, Estimate], dict[str, str]]:
    """Every metric's Estimate, and for each metric without one the reason.

    `bounds` (from `score_bounds`) keeps a mean's interval inside its scores' range.
    """
    columns = COLUMN_BUILDERS[aggregate](items, names)
    clusters = item_clusters(items)
    ranges = bounds or {}
    estimates = {}
    for name, values in columns.means.items():
        keep = np.isfinite(values)
        estimates[name] = estimate_mean(values[keep], _subset(clusters, keep), ranges.get(name))
    if columns.corpus is not None and items:
        estimates |= estimate_corpus(columns.corpus, clusters, resamples=resamples, seed=seed)
    return estimates, dict(columns.missing)


def compare_items(
    aggregate: str,
    base: Sequence[ItemResult],
    other: Sequence[ItemResult],
    names: tuple[str, ...],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    bounds: Mapping[str, Bounds] | None = None,
) -> list[PairedComparison]:
    """Paired comparisons of every metric with an error bar, on the items both scored.

    Items are matched by id, in the base's order; Holm is left to the caller, who knows
    which metrics form one comparison.
    """
    by_id = {item.sample.id: item for item in other}
    pairs = [(item, by_id[item.sample.id]) for item in base if item.sample.id in by_id]
    base_items, other_items = [a for a, _ in pairs], [b for _, b in pairs]
    build = COLUMN_BUILDERS[aggregate]
    columns_a, columns_b = build(base_items, names), build(other_items, names)
    clusters = item_clusters(base_items)
    ranges = bounds or {}
    out = []
    for name, values in columns_a.means.items():
        keep = np.isfinite(values) & np.isfinite(columns_b.means[name])
        paired = columns_b.means[name][keep]
        out.append(
            compare_means(name, values[keep], paired, _subset(clusters, keep), ranges.get(name))
        )
    if columns_a.corpus is not None and columns_b.corpus is not None and pairs:
        corpus = compare_corpus(
            columns_a.corpus, columns_b.corpus, clusters, resamples=resamples, seed=seed
        )
        out += corpus.values()
    return out


def _subset(labels: Sequence[str] | None, keep: np.ndarray) -> list[str] | None:
    return None if labels is None else [c for c, k in zip(labels, keep, strict=True) if k]
