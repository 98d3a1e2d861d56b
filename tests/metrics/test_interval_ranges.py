"""Intervals that respect their metric: Wilson / Newcombe coverage at small n, ranges, MDE notes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from sbt_bench.metrics.intervals import estimate_mean, wilson_interval
from sbt_bench.metrics.paired import (
    MDE_TOO_FEW,
    MDE_ZERO_VARIANCE,
    compare_means,
    difference_intervals,
)

# Coverage of any interval for a binomial proportion oscillates with p at fixed n (at
# n = 10, p = 0.5 exactly, Wilson covers 97.9%; at p = 0.95, 91.4%), so "near p" means
# the mean coverage over a window of true p around it (Brown, Cai and DasGupta 2001).
WINDOWS = {0.5: (0.45, 0.55), 0.95: (0.92, 0.98)}


def exact_coverage(n: int, window: tuple[float, float]) -> float:
    """Mean over p in `window` of P(estimate_mean's interval holds p), exact in x ~ Bin(n, p)."""
    intervals = []
    for x in range(n + 1):
        e = estimate_mean([1.0] * x + [0.0] * (n - x))
        intervals.append((e.ci_low, e.ci_high))
    low, high = np.asarray(intervals).T
    grid = np.linspace(*window, 101)
    pmf = stats.binom.pmf(np.arange(n + 1)[None, :], n, grid[:, None])
    held = (low[None, :] <= grid[:, None]) & (grid[:, None] <= high[None, :])
    return float(np.mean(np.sum(pmf * held, axis=1)))


@pytest.mark.parametrize("n", [10, 20, 50])
@pytest.mark.parametrize("p", [0.5, 0.95])
def test_proportion_interval_keeps_nominal_coverage_at_small_n(n: int, p: float) -> None:
    """The interval of a 0/1 mean covers the true share 93-97% of the time at n = 10, 20, 50."""
    assert 0.93 <= exact_coverage(n, WINDOWS[p]) <= 0.97


def test_the_normal_interval_would_under_cover_near_one() -> None:
    """Control: p +- 1.96 SE at n = 20 near p = 0.95 covers well under 93% (why Wilson is used)."""
    grid = np.linspace(*WINDOWS[0.95], 101)
    x = np.arange(21)
    share = x / 20
    se = np.sqrt(share * (1 - share) / 19)
    held = (share - 1.96 * se <= grid[:, None]) & (grid[:, None] <= share + 1.96 * se)
    coverage = np.mean(np.sum(stats.binom.pmf(x, 20, grid[:, None]) * held, axis=1))
    assert coverage < 0.90


def test_clustered_proportion_interval_covers_with_shared_image_effects() -> None:
    """Design-effect Wilson over 10 images x 2 questions near p = 0.95: coverage 93-97%."""
    rng = np.random.default_rng(5)
    clusters = [g for g in range(10) for _ in range(2)]
    held = []
    for truth in np.linspace(0.92, 0.98, 7):
        share = rng.beta(truth * 8, (1 - truth) * 8, size=(600, 10))
        scores = (rng.random((600, 10, 2)) < share[..., None]).astype(float).reshape(600, 20)
        for row in scores:
            e = estimate_mean(row, clusters)
            held.append(e.ci_low <= truth <= e.ci_high)
    assert estimate_mean(scores[0], clusters).interval == "wilson-design-effect"
    assert 0.93 <= float(np.mean(held)) <= 0.97


def paired_coverage(n: int, centre: float, rng: np.random.Generator) -> float:
    """Simulated coverage of the paired difference's interval, other = base with 15% flipped."""
    held = []
    for share in np.linspace(centre - 0.03, min(centre + 0.03, 0.98), 7):
        base = (rng.random((4000, n)) < share).astype(float)
        other = np.where(rng.random(base.shape) < 0.15, 1 - base, base)
        truth = 0.15 * (1 - share) - 0.15 * share
        _, _, low, high = difference_intervals(base, other)
        held.append(np.mean((low <= truth) & (truth <= high)))
    return float(np.mean(held))


@pytest.mark.parametrize("n", [20, 50])
def test_paired_proportion_difference_covers_near_one_half(n: int) -> None:
    """Newcombe's paired interval covers a difference of shares near 0.5 93-97% at n = 20, 50."""
    assert 0.93 <= paired_coverage(n, 0.5, np.random.default_rng(n)) <= 0.97


@pytest.mark.parametrize("n", [10, 20, 50])
def test_paired_proportion_difference_never_under_covers_near_one(n: int) -> None:
    """Near p = 0.95 Newcombe's interval is conservative (>= 93%) rather than too narrow."""
    assert paired_coverage(n, 0.95, np.random.default_rng(n + 1)) >= 0.93


def inside(low: float, high: float, bounds: tuple[float, float]) -> bool:
    """An interval within `bounds`, or none at all (NaN: too few units for a spread)."""
    if math.isnan(low) and math.isnan(high):
        return True
    return bounds[0] <= low <= high <= bounds[1]


@pytest.mark.parametrize("seed", range(40))
def test_no_interval_leaves_its_metric_range(seed: int) -> None:
    """Random small data sets, clustered or not: shares in [0, 1], their differences in [-1, 1]."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 30))
    share = rng.choice([0.02, 0.5, 0.98, 1.0])
    a = (rng.random(n) < share).astype(float)
    b = (rng.random(n) < rng.choice([0.0, 0.5, 0.97])).astype(float)
    clusters = list(rng.integers(0, max(2, n // 3), n)) if seed % 2 else None
    for e in (estimate_mean(a, clusters), estimate_mean(b, clusters)):
        assert 0.0 <= e.ci_low <= e.value <= e.ci_high <= 1.0
    c = compare_means("acc", a, b, clusters)
    assert -1.0 <= c.ci_low <= c.difference <= c.ci_high <= 1.0
    for e in (c.base, c.other):
        assert 0.0 <= e.ci_low <= e.ci_high <= 1.0
    # A bounded continuous score (mc2's mass) stays in its range too.
    mass = rng.beta(0.3, 0.05, n)
    m = estimate_mean(mass, clusters, (0.0, 1.0))
    assert inside(m.ci_low, m.ci_high, (0.0, 1.0))
    d = compare_means("mc2", mass, rng.beta(0.3, 0.05, n), clusters, (0.0, 1.0))
    assert inside(d.ci_low, d.ci_high, (-1.0, 1.0))


def test_the_issue_case_no_longer_leaves_zero_one() -> None:
    """15 of 20 right: the interval is Wilson's [0.531, 0.888], not 0.75 +- 0.2 past 1 at n = 20."""
    e = estimate_mean([1.0] * 15 + [0.0] * 5)
    assert (e.ci_low, e.ci_high) == pytest.approx((0.5313, 0.8881), abs=1e-4)
    assert e.interval == "wilson"
    assert [float(x) for x in wilson_interval(1.0, 20)] == pytest.approx([0.8389, 1.0], abs=1e-4)


def test_mde_of_identical_models_is_not_estimable_with_the_reason() -> None:
    """Two models agreeing on every item: MDE NaN and a note, never a claim of perfect power."""
    scores = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0]
    c = compare_means("acc", scores, scores)
    assert math.isnan(c.mde)
    assert c.mde_note == MDE_ZERO_VARIANCE
    one = compare_means("acc", [1.0], [0.0])
    assert math.isnan(one.mde)
    assert one.mde_note == MDE_TOO_FEW
    varied = compare_means("acc", scores, [0.0, 0.0, 1.0, 1.0, 1.0, 1.0])
    assert varied.mde > 0
    assert varied.mde_note is None
