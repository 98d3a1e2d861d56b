"""Error bars of a task's breakdown (MME per subtask, OODCV per situation and per count).

Every breakdown number is a mean over units: items, or images where the number is one
per image. MME's per-subtask numbers, for instance, with G images and N answers:

- acc = 100 * mean over answers of `correct`, clustered on the image;
- acc+ = 100 * mean over images of "both answers right" (images are independent);
- score = acc + acc+ = mean over images of u_g = 100 (G / N) c_g + 100 b_g, where c_g
  counts the image's right answers and b_g is 1 when they all are.

So each gets the interval `metrics.intervals.estimate_mean` gives a mean (Wilson for
shares, design-effect Wilson where clustered, the normal interval cut to its range
otherwise), and the paired comparison `compare_means` gives, scaled to the metric's
unit. A task's other parts (POPE's splits, ETHICS's subsets) are tasks of a group with
error bars of their own. Caption breakdowns are corpus scores without error bars.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from sbt_bench.core.types import ItemResult
from sbt_bench.metrics.intervals import Array, Estimate, estimate_mean
from sbt_bench.metrics.oodcv import is_yes_no
from sbt_bench.metrics.paired import PairedComparison, compare_means
from sbt_bench.tasks.error_bars import CAPTION_NOTE, item_clusters

Bounds = tuple[float, float]


@dataclass(frozen=True)
class UnitColumn:
    """One breakdown metric as a mean over units (items or images).

    Attributes:
        metric: the breakdown metric's name (as in results.json's `breakdown`).
        values: one number per unit; NaN where the unit is not in this metric.
        clusters: each unit's cluster (its image), or None for independent units.
        scale: the factor from the mean of `values` to the metric (100: percent).
        bounds: the range of one unit's value, where known.
    """

    metric: str
    values: Array
    clusters: list[str] | None = None
    scale: float = 1.0
    bounds: Bounds | None = None


Parts = dict[str, list[UnitColumn]]
PartBuilder = Callable[[Sequence[ItemResult]], Parts]


def _mme_parts(items: Sequence[ItemResult]) -> Parts:
    """Per subtask: acc over answers (clustered on images), acc+ and score over images."""
    parts: Parts = {}
    for subtask in dict.fromkeys(item.sample.subset for item in items):
        members = [i for i in items if i.sample.subset == subtask]
        correct = np.asarray([m.scores["correct"] for m in members], dtype=np.float64)
        images = [m.sample.pair for m in members]
        right: dict[str, list[float]] = {}
        for image, ok in zip(images, correct, strict=True):
            right.setdefault(image, []).append(float(ok))
        # An image missing an answer is never "both right", as `mme_columns` counts it.
        both = np.asarray([len(v) == 2 and all(v) for v in right.values()], dtype=np.float64)  # noqa: PLR2004
        answers_per_image = len(members) / len(right)
        summed = np.asarray([sum(v) for v in right.values()], dtype=np.float64)
        per_image_score = 100 * summed / answers_per_image + 100 * both
        parts[subtask] = [
            UnitColumn("acc", correct, images, 100.0),
            UnitColumn("acc_plus", both, None, 100.0),
            UnitColumn("score", per_image_score, None, 1.0, (0.0, 200.0)),
        ]
    return parts


def _oodcv_parts(items: Sequence[ItemResult]) -> Parts:
    """Per situation: accuracy, yes/no and number accuracy; per gold count, per situation."""
    parts: Parts = {}
    clusters = item_clusters(items)
    correct = np.asarray([i.scores["correct"] for i in items], dtype=np.float64)
    yes_no = np.asarray([is_yes_no(i.sample.references[0]) for i in items], dtype=bool)
    situation = np.asarray([i.sample.subset for i in items])
    for name in sorted(set(situation)):
        inside = situation == name
        parts[name] = [
            UnitColumn("accuracy", np.where(inside, correct, math.nan), clusters),
            UnitColumn("yes_no", np.where(inside & yes_no, correct, math.nan), clusters),
            UnitColumn("number", np.where(inside & ~yes_no, correct, math.nan), clusters),
        ]
    gold = np.asarray([i.sample.references[0] for i in items])
    for count in sorted(set(gold[~yes_no]), key=lambda c: (len(c), c)):
        of_count = (gold == count) & ~yes_no
        columns = [UnitColumn("accuracy", np.where(of_count, correct, math.nan), clusters)]
        columns += [
            UnitColumn(str(s), np.where(of_count & (situation == s), correct, math.nan), clusters)
            for s in sorted(set(situation[of_count]))
        ]
        parts[f"count={count}"] = columns
    return parts


PART_BUILDERS: dict[str, PartBuilder] = {"mme": _mme_parts, "oodcv": _oodcv_parts}
NO_BREAKDOWN_BARS = {"caption": CAPTION_NOTE, "caption_corruptions": CAPTION_NOTE}


def breakdown_estimates(
    aggregate: str, items: Sequence[ItemResult]
) -> tuple[dict[str, dict[str, Estimate]], str | None]:
    """Per breakdown part, each metric's Estimate; or, where there are none, why."""
    if aggregate in NO_BREAKDOWN_BARS:
        return {}, NO_BREAKDOWN_BARS[aggregate]
    build = PART_BUILDERS.get(aggregate)
    if build is None or not items:
        return {}, None
    return {
        part: {c.metric: _estimate(c) for c in columns} for part, columns in build(items).items()
    }, None


def _estimate(column: UnitColumn) -> Estimate:
    keep = np.isfinite(column.values)
    clusters = _kept(column.clusters, keep)
    bounds = column.bounds
    estimate = estimate_mean(column.values[keep], clusters, bounds)
    return scale_estimate(estimate, column.scale)


def compare_breakdowns(
    aggregate: str, base: Sequence[ItemResult], other: Sequence[ItemResult]
) -> dict[str, list[PairedComparison]]:
    """Per breakdown part, each metric's paired comparison on the items both scored."""
    build = PART_BUILDERS.get(aggregate)
    if build is None:
        return {}
    by_id = {item.sample.id: item for item in other}
    pairs = [(a, by_id[a.sample.id]) for a in base if a.sample.id in by_id]
    if not pairs:
        return {}
    parts_a = build([a for a, _ in pairs])
    parts_b = build([b for _, b in pairs])
    out: dict[str, list[PairedComparison]] = {}
    for part, columns in parts_a.items():
        others = {c.metric: c for c in parts_b.get(part, [])}
        out[part] = [_compare(c, others[c.metric]) for c in columns if c.metric in others]
    return out


def _compare(a: UnitColumn, b: UnitColumn) -> PairedComparison:
    if a.values.shape != b.values.shape:  # an image both runs saw differently: unpaired
        return _unpaired(a)
    keep = np.isfinite(a.values) & np.isfinite(b.values)
    row = compare_means(a.metric, a.values[keep], b.values[keep], _kept(a.clusters, keep), a.bounds)
    return scale_comparison(row, a.scale)


def _unpaired(column: UnitColumn) -> PairedComparison:
    nan = math.nan
    empty = Estimate(nan, nan, nan, nan, 0)
    return PairedComparison(column.metric, empty, empty, nan, nan, nan, nan, nan, nan, nan, 0, "-")


def scale_estimate(estimate: Estimate, scale: float) -> Estimate:
    """The estimate in the metric's unit (e.g. a share times 100 for percent)."""
    if scale == 1:
        return estimate
    return replace(
        estimate,
        value=estimate.value * scale,
        stderr=estimate.stderr * scale,
        ci_low=estimate.ci_low * scale,
        ci_high=estimate.ci_high * scale,
    )


def scale_comparison(row: PairedComparison, scale: float) -> PairedComparison:
    """A paired comparison in the metric's unit; p-values do not change with the unit."""
    if scale == 1:
        return row
    return replace(
        row,
        base=scale_estimate(row.base, scale),
        other=scale_estimate(row.other, scale),
        difference=row.difference * scale,
        stderr=row.stderr * scale,
        ci_low=row.ci_low * scale,
        ci_high=row.ci_high * scale,
        mde=row.mde * scale,
    )


def breakdown_json(
    estimates: Mapping[str, Mapping[str, Estimate]],
) -> dict[str, dict[str, dict[str, object]]]:
    """`breakdown_ci95`, `breakdown_stderr` and `breakdown_ci_method` of results.json."""
    return {
        "breakdown_ci95": {
            part: {m: [e.ci_low, e.ci_high] for m, e in metrics.items()}
            for part, metrics in estimates.items()
        },
        "breakdown_stderr": {
            part: {m: e.stderr for m, e in metrics.items()} for part, metrics in estimates.items()
        },
        "breakdown_ci_method": {
            part: {m: e.interval for m, e in metrics.items()} for part, metrics in estimates.items()
        },
    }


def _kept(labels: list[str] | None, keep: NDArray[np.bool_]) -> list[str] | None:
    return None if labels is None else [c for c, k in zip(labels, keep, strict=True) if k]
