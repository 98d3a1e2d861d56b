"""Two models on the same items: paired difference, its error bar, p-value, Holm, power.

Pairing on item ids removes the variance of which questions were drawn, so the paired
interval is far narrower than the two separate ones combined. The test depends on the
scores (/work/shared/reference/statistics.md):

- 0/1 scores, independent items: McNemar's exact test (binomial on the discordant pairs);
- continuous scores, independent items: the paired t-test;
- clustered items (several questions per image): a Wald z-test on the cluster-robust SE
  of the differences, since both tests above assume independent items and would be
  anti-conservative;
- corpus metrics (F1, MME score, acc+): a seeded paired bootstrap (the same resampled
  clusters for both models) for the CI, approximate randomisation for p.

Intervals stay in range: a difference of two proportions (0/1 scores) gets Newcombe's
score interval for paired proportions (Newcombe 1998, method 10: the two Wilson
intervals combined with the phi correlation of the pairs), which lies in [-1, 1]; for
clustered items the same interval at the effective sample size n / deff, deff being the
squared ratio of the clustered to the independent SE of the differences (floored at 1),
as `intervals.effective_n` does for one proportion. Other differences keep the normal
interval, cut to the range the difference can take where the scores' range is known.

An MDE needs a spread: where the differences have no variance (both models score every
item alike) or fewer than two independent units exist, it is NaN and `mde_note` says why.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from sbt_bench.metrics.intervals import (
    DEFAULT_RESAMPLES,
    Z_95,
    Array,
    CorpusMetrics,
    Estimate,
    bootstrap_sums,
    cluster_codes,
    cluster_sums,
    clustered_stderrs,
    estimate_mean,
    is_proportion,
    summarize_replicates,
    weighted_sums,
    wilson_interval,
)

MDE_ZERO_VARIANCE = (
    "not estimable: the paired differences have zero variance (the models score every "
    "item alike), so the data say nothing about the power"
)
MDE_TOO_FEW = "not estimable: fewer than two independent items or clusters"


@dataclass(frozen=True)
class PairedComparison:
    """`other - base` on one metric over the items both models scored.

    Attributes:
        metric: the metric's name.
        base: the base model's estimate on the paired items.
        other: the other model's estimate on the paired items.
        difference: other - base.
        stderr: SE of the difference (paired; clustered where the task declares clusters).
        ci_low: lower end of the difference's 95% interval.
        ci_high: upper end of the difference's 95% interval.
        p_value: two-sided p of "no difference", unadjusted.
        p_holm: p after Holm's correction across one comparison's metrics (= p_value
            until `adjust_holm` runs).
        mde: minimum detectable effect at alpha 0.05 (two-sided) and 80% power; NaN
            where not estimable (then `mde_note` says why).
        n_paired: items in both runs.
        test: "mcnemar-exact", "paired-t", "clustered-z" or "paired-bootstrap".
        interval: how the difference's interval was found ("newcombe",
            "newcombe-design-effect", "normal", "percentile").
        mde_note: why `mde` is NaN; None where it is a number.
    """

    metric: str
    base: Estimate
    other: Estimate
    difference: float
    stderr: float
    ci_low: float
    ci_high: float
    p_value: float
    p_holm: float
    mde: float
    n_paired: int
    test: str
    interval: str = "normal"
    mde_note: str | None = None


def mde_with_note(stderr: float) -> tuple[float, str | None]:
    """The MDE of a difference with SE `stderr`, or NaN and why it cannot be estimated.

    Example:
        >>> mde_with_note(0.0)[1].startswith("not estimable")
        True
    """
    if not math.isfinite(stderr):
        return math.nan, MDE_TOO_FEW
    if stderr == 0:
        return math.nan, MDE_ZERO_VARIANCE
    return minimum_detectable_effect(stderr), None


def minimum_detectable_effect(stderr: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """(z_{1-alpha/2} + z_power) * SE_d: the smallest true difference detected `power` often.

    Example:
        >>> round(minimum_detectable_effect(0.01), 4)
        0.028
    """
    return _z_sum(alpha, power) * stderr


@functools.cache
def _z_sum(alpha: float, power: float) -> float:
    # scipy's ppf costs ~0.5 ms; a comparison asks for the same two quantiles per row.
    return float(stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power))


def mcnemar_exact_p(base: ArrayLike, other: ArrayLike) -> float:
    """McNemar's exact p: two-sided binomial test of min(b, c) in b + c trials at 1/2.

    b = items base got right and other wrong, c = the reverse; no discordant pair gives 1.

    Example:
        >>> round(mcnemar_exact_p([1, 1, 1, 0], [0, 0, 0, 0]), 3)
        0.25
    """
    a, o = np.asarray(base) > 0, np.asarray(other) > 0
    b, c = int(np.sum(a & ~o)), int(np.sum(~a & o))
    if b + c == 0:
        return 1.0
    return float(stats.binomtest(min(b, c), b + c, 0.5).pvalue)


def compare_means(
    metric: str,
    base: ArrayLike,
    other: ArrayLike,
    clusters: Sequence[Hashable] | None = None,
    bounds: tuple[float, float] | None = None,
) -> PairedComparison:
    """Paired comparison of a per-item mean; `base[i]` and `other[i]` are the same item.

    `bounds` is the range of one item's score (None: unknown); it bounds the estimates
    and the difference (to [low - high, high - low]).
    """
    a, o = np.asarray(base, dtype=np.float64), np.asarray(other, dtype=np.float64)
    if a.shape != o.shape:
        raise ValueError(f"{metric}: {a.size} base scores but {o.size} other scores")
    d = o - a
    diff, se, low, high = (float(x) for x in difference_intervals(a, o, clusters, bounds))
    test, p = _mean_test(a, o, se, clustered=clusters is not None)
    mde, note = mde_with_note(se)
    return PairedComparison(
        metric=metric,
        base=estimate_mean(a, clusters, bounds),
        other=estimate_mean(o, clusters, bounds),
        difference=diff,
        stderr=se,
        ci_low=low,
        ci_high=high,
        p_value=p,
        p_holm=p,
        mde=mde,
        n_paired=int(d.size),
        test=test,
        interval=difference_interval_kind(a, o, clusters, bounds),
        mde_note=note,
    )


def difference_interval_kind(
    base: Array,
    other: Array,
    clusters: Sequence[Hashable] | None = None,
    bounds: tuple[float, float] | None = None,
) -> str:
    """The name of the interval `difference_intervals` gives these scores."""
    if bounds in (None, (0.0, 1.0)) and is_proportion(base) and is_proportion(other):
        return "newcombe" if clusters is None else "newcombe-design-effect"
    return "normal"


def difference_intervals(
    base: Array,
    other: Array,
    clusters: Sequence[Hashable] | None = None,
    bounds: tuple[float, float] | None = None,
) -> tuple[Array, Array, Array, Array]:
    """Mean difference, its paired (clustered) SE and 95% CI, per row of (..., n).

    0/1 scores get Newcombe's paired score interval (in [-1, 1]); others the normal
    one, cut to [low - high, high - low] of `bounds`. Vectorised over leading axes, so
    a simulation checks the very interval `compare_means` reports.
    """
    a = np.asarray(base, dtype=np.float64)
    o = np.asarray(other, dtype=np.float64)
    d = o - a
    codes = cluster_codes(clusters, d.shape[-1])
    se = clustered_stderrs(d, codes)
    diff = d.mean(axis=-1) if d.shape[-1] else np.full(d.shape[:-1], np.nan)
    shares = bounds in (None, (0.0, 1.0)) and is_proportion(a) and is_proportion(o)
    if d.shape[-1] and shares:
        low, high = newcombe_interval(a, o, se, clusters)
        return diff, se, low, high
    low, high = diff - Z_95 * se, diff + Z_95 * se
    if bounds is not None:
        span = bounds[1] - bounds[0]
        low, high = np.clip(low, -span, span), np.clip(high, -span, span)
    return diff, se, low, high


def newcombe_interval(
    base: Array, other: Array, clustered_se: Array, clusters: Sequence[Hashable] | None
) -> tuple[Array, Array]:
    """Newcombe's (1998, method 10) 95% interval of mean(other) - mean(base), 0/1 scores.

    Each proportion's Wilson interval (at the effective n where clustered) and the phi
    correlation of the pairs; phi is 0 where a margin is empty, as Newcombe sets it.

    Example:
        >>> a = np.array([1.0] * 8 + [0.0] * 2)
        >>> [round(float(x), 4) for x in newcombe_interval(a, np.ones(10), np.nan, None)]
        [-0.1124, 0.5098]
    """
    n = base.shape[-1]
    p1, p2 = base.mean(axis=-1), other.mean(axis=-1)
    n_eff = _difference_effective_n(base, other, clustered_se, clusters)
    l1, u1 = wilson_interval(p1, n_eff)
    l2, u2 = wilson_interval(p2, n_eff)
    both = np.sum(base * other, axis=-1) / n
    margins = p1 * (1 - p1) * p2 * (1 - p2)
    with np.errstate(divide="ignore", invalid="ignore"):
        phi = np.where(margins > 0, (both - p1 * p2) / np.sqrt(margins), 0.0)
    diff = p2 - p1
    below = np.sqrt(
        np.maximum(0.0, (p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2)
    )
    above = np.sqrt(
        np.maximum(0.0, (u2 - p2) ** 2 - 2 * phi * (u2 - p2) * (p1 - l1) + (p1 - l1) ** 2)
    )
    return np.clip(diff - below, -1.0, 1.0), np.clip(diff + above, -1.0, 1.0)


def _difference_effective_n(
    base: Array, other: Array, clustered_se: Array, clusters: Sequence[Hashable] | None
) -> Array:
    """n, or with clusters n over the design effect of the differences (per row).

    Where the differences do not vary, the design effect is unknowable and the number
    of clusters stands in for n (the cautious choice `intervals.effective_n` makes).
    """
    n = base.shape[-1]
    if clusters is None:
        return np.full(base.shape[:-1], float(n))
    n_clusters = float(cluster_codes(clusters, n).max() + 1)
    independent = clustered_stderrs(other - base, np.arange(n))
    with np.errstate(divide="ignore", invalid="ignore"):
        deff = np.maximum(1.0, (np.asarray(clustered_se) / independent) ** 2)
    usable = (independent > 0) & np.isfinite(deff)
    return np.where(usable, n / np.where(usable, deff, 1.0), n_clusters)


def _mean_test(a: Array, o: Array, se: float, *, clustered: bool) -> tuple[str, float]:
    """The test's name and two-sided p for a mean difference (see the module docstring)."""
    diff = float((o - a).mean()) if a.size else math.nan
    if clustered:
        if se == 0 or not math.isfinite(se):
            return "clustered-z", 1.0 if diff == 0 else math.nan
        return "clustered-z", float(2 * stats.norm.sf(abs(diff) / se))
    if np.isin(a, (0.0, 1.0)).all() and np.isin(o, (0.0, 1.0)).all():
        return "mcnemar-exact", mcnemar_exact_p(a, o)
    if np.array_equal(a, o):
        return "paired-t", 1.0
    return "paired-t", float(stats.ttest_rel(o, a).pvalue)


def compare_corpus(
    base: CorpusMetrics,
    other: CorpusMetrics,
    clusters: Sequence[Hashable] | None = None,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> dict[str, PairedComparison]:
    """Every corpus metric of both models with a paired bootstrap CI and a randomisation p.

    `base.columns[i]` and `other.columns[i]` are the same item; both share the metric
    metric function (`base.metrics`). The bootstrap draws the same clusters for both models;
    approximate randomisation swaps the two models' outputs per cluster with probability
    1/2 and counts differences at least as large: p = (1 + #{|D*| >= |D|}) / (1 + R).
    """
    if base.columns.shape != other.columns.shape:
        raise ValueError(f"{base.columns.shape} base columns vs {other.columns.shape} other")
    n, k = base.columns.shape
    codes = cluster_codes(clusters, n)
    n_clusters = None if clusters is None else int(codes.max()) + 1
    sums = cluster_sums(np.hstack([base.columns, other.columns]), codes)
    boot = bootstrap_sums(sums, resamples, seed)
    swapped = _randomised_sums(sums[:, :k], sums[:, k:], resamples, seed + 1)
    totals = sums.sum(axis=0)
    values_a, values_o = base.metrics(totals[:k]), base.metrics(totals[k:])
    boot_a, boot_o = base.metrics(boot[:, :k]), base.metrics(boot[:, k:])
    null_a, null_o = base.metrics(swapped[0]), base.metrics(swapped[1])
    out = {}
    for name in values_a:
        value_a, value_o = float(values_a[name]), float(values_o[name])
        diff = value_o - value_a
        interval = summarize_replicates(diff, boot_o[name] - boot_a[name], n, n_clusters)
        null = null_o[name] - null_a[name]
        # A hair of slack: a swap that changes nothing must count as "as large" despite
        # float32 sums.
        extreme = int(np.sum(np.abs(null) >= abs(diff) - 1e-6 * max(1.0, abs(diff))))
        p = (1 + extreme) / (1 + resamples)
        out[name] = PairedComparison(
            metric=name,
            base=summarize_replicates(value_a, boot_a[name], n, n_clusters),
            other=summarize_replicates(value_o, boot_o[name], n, n_clusters),
            difference=diff,
            stderr=interval.stderr,
            ci_low=interval.ci_low,
            ci_high=interval.ci_high,
            p_value=p,
            p_holm=p,
            mde=mde_with_note(interval.stderr)[0],
            n_paired=n,
            test="paired-bootstrap",
            interval="percentile",
            mde_note=mde_with_note(interval.stderr)[1],
        )
    return out


def _randomised_sums(base: Array, other: Array, resamples: int, seed: int) -> tuple[Array, Array]:
    """Column sums of both models after swapping their outputs on random clusters.

    Swapping cluster g moves (other_g - base_g) from one model's sums to the other's, so
    each draw is one row of the swap mask times the per-cluster differences.
    """
    moved = weighted_sums(swap_masks(base.shape[0], resamples, seed), other - base)
    return base.sum(axis=0) + moved, other.sum(axis=0) - moved


@functools.lru_cache(maxsize=4)
def swap_masks(n_clusters: int, resamples: int, seed: int) -> NDArray[np.float32]:
    """A fair coin per cluster and draw: (G, resamples) of 0/1, read-only.

    Shared across pairs like the bootstrap's counts (`intervals.resample_counts`).
    """
    rng = np.random.default_rng(seed)
    n_bytes = (resamples + 7) // 8
    bits = np.unpackbits(rng.integers(0, 256, (n_clusters, n_bytes), dtype=np.uint8), axis=1)
    masks = bits[:, :resamples].astype(np.float32)
    masks.flags.writeable = False
    return masks


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment; NaN p-values stay NaN and do not count in m.

    Sorted ascending, adjusted p_(k) = max over j <= k of min(1, (m - j + 1) p_(j)).

    Example:
        >>> [round(p, 6) for p in holm_adjust([0.01, 0.04, 0.03])]
        [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, dtype=np.float64)
    finite = np.flatnonzero(np.isfinite(p))
    order = finite[np.argsort(p[finite], kind="stable")]
    m = order.size
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.full(p.shape, np.nan)
    adjusted[order] = np.maximum.accumulate(scaled)
    return [float(x) for x in adjusted]


def adjust_holm(comparisons: Sequence[PairedComparison]) -> list[PairedComparison]:
    """The comparisons with `p_holm` set by Holm's correction across all of them."""
    adjusted = holm_adjust([c.p_value for c in comparisons])
    return [replace(c, p_holm=p) for c, p in zip(comparisons, adjusted, strict=True)]


__all__ = [
    "PairedComparison",
    "adjust_holm",
    "compare_corpus",
    "compare_means",
    "holm_adjust",
    "mcnemar_exact_p",
    "mde_with_note",
    "minimum_detectable_effect",
    "newcombe_interval",
]
