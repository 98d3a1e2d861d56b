"""Error bars and paired comparisons (sbt_bench.metrics.intervals / paired): coverage, parity."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from sbt_bench.metrics.intervals import (
    CorpusMetrics,
    cluster_codes,
    clustered_stderr,
    estimate_corpus,
    estimate_mean,
)
from sbt_bench.metrics.paired import (
    compare_corpus,
    compare_means,
    difference_intervals,
    holm_adjust,
    mcnemar_exact_p,
    minimum_detectable_effect,
)
from sbt_bench.metrics.stats import stderr_of_mean

N_SETS = 2_000


def coverage(base: np.ndarray, other: np.ndarray, truth: float, clusters=None) -> float:
    """Share of simulated data sets (rows) whose paired 95% CI holds the true difference.

    The rows go through `difference_intervals` at once; `compare_means` reports the very
    same interval, which the first row checks.
    """
    _, _, low, high = difference_intervals(base, other, clusters)
    first = compare_means("acc", base[0], other[0], clusters)
    assert (first.ci_low, first.ci_high) == pytest.approx((low[0], high[0]))
    return float(np.mean((low <= truth) & (truth <= high)))


def test_ci_of_a_paired_01_difference_covers_the_truth_95_percent_of_the_time() -> None:
    """Simulated 0/1 pairs with a known +0.05 difference: the 95% CI covers it 93.5-96.5%."""
    rng = np.random.default_rng(1)
    # P(A, B) over (1,1), (1,0), (0,1), (0,0): B - A = 0.15 - 0.10.
    cells = rng.choice(4, size=(N_SETS, 300), p=[0.5, 0.1, 0.15, 0.25])
    a, b = np.isin(cells, (0, 1)).astype(float), np.isin(cells, (0, 2)).astype(float)
    assert compare_means("acc", a[0], b[0]).test == "mcnemar-exact"
    assert 0.935 <= coverage(a, b, 0.05) <= 0.965


def test_ci_of_a_paired_continuous_difference_covers_the_truth_95_percent_of_the_time() -> None:
    """Continuous scores (mc2-like, skewed) with a known +0.03 difference: coverage 93.5-96.5%."""
    rng = np.random.default_rng(2)
    a = rng.beta(2, 3, size=(N_SETS, 200))
    b = np.clip(a + 0.03 + rng.normal(0, 0.1, size=a.shape), -1, 2)
    truth = 0.03  # the clip never binds: beta in [0, 1] plus N(0.03, 0.1) stays in [-1, 2]
    assert compare_means("acc", a[0], b[0]).test == "paired-t"
    assert 0.935 <= coverage(a, b, truth) <= 0.965


def clustered_sets(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Differences of 80 images x 6 questions sharing a per-image effect; true mean 0.02."""
    n_images, per_image = 80, 6
    effect = rng.normal(0, 0.3, size=(N_SETS, n_images, 1))
    noise = rng.normal(0, 0.3, size=(N_SETS, n_images, per_image))
    d = (0.02 + effect + noise).reshape(N_SETS, -1)
    base = rng.normal(0, 1, size=d.shape)
    return base, base + d, [g for g in range(n_images) for _ in range(per_image)]


def test_clustered_ci_covers_and_the_unclustered_one_under_covers() -> None:
    """Items sharing an image: the clustered CI covers 93.5-96.5%; ignoring clusters, < 85%."""
    base, other, clusters = clustered_sets(np.random.default_rng(3))
    assert compare_means("acc", base[0], other[0], clusters).test == "clustered-z"
    assert 0.935 <= coverage(base, other, 0.02, clusters) <= 0.965
    # The per-image effect is half the variance and shared by 6 questions: the naive SE
    # is about sqrt(2/7) of the right one, so its "95%" interval covers far less.
    assert coverage(base, other, 0.02) < 0.85


@pytest.mark.parametrize(("b", "c"), [(3, 0), (10, 4), (7, 7), (1, 12), (25, 14)])
def test_mcnemar_p_is_the_binomial_test_on_discordant_pairs(b: int, c: int) -> None:
    """With b items only base got right and c only other, p = binomtest(min(b, c), b + c)."""
    base = [1] * b + [0] * c + [1] * 5 + [0] * 4
    other = [0] * b + [1] * c + [1] * 5 + [0] * 4
    expected = stats.binomtest(min(b, c), b + c, 0.5).pvalue
    assert mcnemar_exact_p(base, other) == pytest.approx(expected, rel=1e-12)


def test_mcnemar_without_discordant_pairs_is_one() -> None:
    """Identical 0/1 answers give p = 1 (b + c = 0), not an error."""
    assert mcnemar_exact_p([1, 0, 1], [1, 0, 1]) == 1.0


def test_clustered_stderr_equals_statsmodels_cluster_robust_ols() -> None:
    """Intercept-only OLS with cov_type=cluster gives the same SE (G/(G-1) correction)."""
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(4)
    groups = rng.integers(0, 9, size=40)
    y = rng.normal(size=40) + groups * 0.2
    fit = sm.OLS(y, np.ones((40, 1))).fit(cov_type="cluster", cov_kwds={"groups": groups})
    ours = clustered_stderr(y, cluster_codes(list(groups), 40))
    assert ours == pytest.approx(float(fit.bse[0]), rel=1e-10)


def test_unclustered_stderr_is_lm_evals_stderr_of_mean() -> None:
    """Without clusters the SE is the sample SD (ddof=1) over sqrt(n), as stats.py reports."""
    values = [0.0, 1.0, 1.0, 0.5, 0.25]
    assert estimate_mean(values).stderr == pytest.approx(stderr_of_mean(values), rel=1e-12)


def mean_corpus(scores: np.ndarray) -> CorpusMetrics:
    """A mean written as a corpus metric (sum of scores over sum of ones)."""
    columns = np.column_stack([scores, np.ones_like(scores)])
    return CorpusMetrics(columns, lambda s: {"mean": s[..., 0] / s[..., 1]})


def test_paired_bootstrap_ci_of_a_mean_matches_the_analytic_paired_ci() -> None:
    """On 3,000 paired 0/1 items the bootstrap CI ends are within 0.005 of the normal CI's."""
    rng = np.random.default_rng(5)
    cells = rng.choice(4, size=3000, p=[0.5, 0.1, 0.15, 0.25])
    a, b = np.isin(cells, (0, 1)).astype(float), np.isin(cells, (0, 2)).astype(float)
    analytic = compare_means("acc", a, b)
    boot = compare_corpus(mean_corpus(a), mean_corpus(b), resamples=3000, seed=0)["mean"]
    assert boot.difference == pytest.approx(analytic.difference)
    assert boot.ci_low == pytest.approx(analytic.ci_low, abs=0.005)
    assert boot.ci_high == pytest.approx(analytic.ci_high, abs=0.005)
    assert boot.stderr == pytest.approx(analytic.stderr, rel=0.1)


def test_bootstrap_is_seeded_and_the_pair_reuses_each_models_resamples() -> None:
    """Same seed, same numbers; a model's own bootstrap CI equals its side of the pair."""
    rng = np.random.default_rng(6)
    a, b = rng.integers(0, 2, 300).astype(float), rng.integers(0, 2, 300).astype(float)
    first = estimate_corpus(mean_corpus(a), resamples=500, seed=7)["mean"]
    again = estimate_corpus(mean_corpus(a), resamples=500, seed=7)["mean"]
    pair = compare_corpus(mean_corpus(a), mean_corpus(b), resamples=500, seed=7)["mean"]
    assert first == again
    assert (pair.base.ci_low, pair.base.ci_high) == (first.ci_low, first.ci_high)


def test_randomisation_p_is_one_for_identical_models_and_small_for_a_real_gap() -> None:
    """Approximate randomisation: no difference -> p = 1; a 30-point gap -> p = 1/(1+R)."""
    rng = np.random.default_rng(8)
    a = (rng.random(400) < 0.4).astype(float)
    b = np.maximum(a, (rng.random(400) < 0.5).astype(float))
    same = compare_corpus(mean_corpus(a), mean_corpus(a), resamples=999)["mean"]
    gap = compare_corpus(mean_corpus(a), mean_corpus(b), resamples=999)["mean"]
    assert same.p_value == 1.0
    assert gap.p_value == pytest.approx(1 / 1000)


def test_bootstrap_with_clusters_resamples_whole_clusters() -> None:
    """Six identical answers per image carry one image's information: the SE grows ~sqrt(6)."""
    rng = np.random.default_rng(9)
    per_image = rng.integers(0, 2, 100).astype(float)
    scores = np.repeat(per_image, 6)
    clusters = [str(g) for g in range(100) for _ in range(6)]
    by_item = estimate_corpus(mean_corpus(scores), resamples=2000)["mean"]
    by_image = estimate_corpus(mean_corpus(scores), clusters, resamples=2000)["mean"]
    assert by_image.n_clusters == 100
    assert by_image.stderr / by_item.stderr == pytest.approx(math.sqrt(6), rel=0.1)


def test_holm_step_down_on_a_hand_case() -> None:
    """Sorted p 0.01, 0.02, 0.03, 0.2 of m = 4 -> 0.04, 0.06, 0.06, 0.2, in input order."""
    assert holm_adjust([0.03, 0.2, 0.01, 0.02]) == pytest.approx([0.06, 0.2, 0.04, 0.06])
    assert holm_adjust([0.5, 0.6]) == pytest.approx([1.0, 1.0])  # capped at 1


def test_holm_leaves_undefined_p_values_out_of_m() -> None:
    """A NaN p (no error bar) stays NaN and does not inflate the others' correction."""
    adjusted = holm_adjust([0.01, math.nan, 0.04])
    assert adjusted[0] == pytest.approx(0.02)
    assert math.isnan(adjusted[1])
    assert adjusted[2] == pytest.approx(0.04)


def test_minimum_detectable_effect_is_z975_plus_z80_times_the_stderr() -> None:
    """MDE at alpha 0.05 and power 0.8 is (1.96 + 0.84) SE, reported with each comparison."""
    assert minimum_detectable_effect(0.01) == pytest.approx(0.028016, abs=1e-6)
    c = compare_means("acc", [1, 0, 1, 0, 1, 1], [1, 1, 1, 0, 0, 1])
    assert c.mde == pytest.approx(minimum_detectable_effect(c.stderr))
