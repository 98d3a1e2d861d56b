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
    summarize_replicates,
    weighted_sums,
)


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
        mde: minimum detectable effect at alpha 0.05 (two-sided) and 80% power.
        n_paired: items in both runs.
        test: "mcnemar-exact", "paired-t", "clustered-z" or "paired-bootstrap".
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
) -> PairedComparison:
    """Paired comparison of a per-item mean; `base[i]` and `other[i]` are the same item."""
    a, o = np.asarray(base, dtype=np.float64), np.asarray(other, dtype=np.float64)
    if a.shape != o.shape:
        raise ValueError(f"{metric}: {a.size} base scores but {o.size} other scores")
    d = o - a
    diff, se, low, high = (float(x) for x in difference_intervals(a, o, clusters))
    test, p = _mean_test(a, o, se, clustered=clusters is not None)
    return PairedComparison(
        metric=metric,
        base=estimate_mean(a, clusters),
        other=estimate_mean(o, clusters),
        difference=diff,
        stderr=se,
        ci_low=low,
        ci_high=high,
        p_value=p,
        p_holm=p,
        mde=minimum_detectable_effect(se),
        n_paired=int(d.size),
        test=test,
    )


def difference_intervals(
    base: Array, other: Array, clusters: Sequence[Hashable] | None = None
) -> tuple[Array, Array, Array, Array]:
    """Mean difference, its paired (clustered) SE and normal 95% CI, per row of (..., n).

    Vectorised over leading axes, so a simulation checks the very interval
    `compare_means` reports.
    """
    d = np.asarray(other, dtype=np.float64) - np.asarray(base, dtype=np.float64)
    se = clustered_stderrs(d, cluster_codes(clusters, d.shape[-1]))
    diff = d.mean(axis=-1) if d.shape[-1] else np.full(d.shape[:-1], np.nan)
    return diff, se, diff - Z_95 * se, diff + Z_95 * se


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
            mde=minimum_detectable_effect(interval.stderr),
            n_paired=n,
            test="paired-bootstrap",
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
    "minimum_detectable_effect",
]
