"""Error bars for one model: mean, (cluster-robust) standard error, 95% CI, seeded bootstrap.

Everything here works on per-item arrays. Items that share an image are not independent,
so every function takes optional cluster labels; without them each item is its own
cluster, and the cluster-robust formula reduces to the textbook SE of the mean (see
/work/shared/reference/statistics.md, restated in `clustered_stderr`).

Corpus-level metrics (F1, precision, MME's acc+) are not means of item scores, but each
is a function of *sums* of per-item columns (true positives, predicted yes, ...). A
`CorpusMetrics` holds those columns and the functions; the bootstrap resamples clusters
with replacement, sums the columns of each resample and applies the same functions, so
no metric is re-implemented for its error bar.

Intervals stay inside the metric's range. A mean of 0/1 scores (a proportion) gets the
Wilson score interval, which lies in [0, 1] and keeps close to 95% mean coverage down
to n = 10 (Brown, Cai and DasGupta 2001), where the normal interval `p +- 1.96 SE`
leaves [0, 1] and under-covers near 0 and 1. Clustered items use the same interval at
the effective sample size n / deff, deff = (clustered SE / independent SE)^2 floored at
1 (the design-effect Wilson interval of Korn and Graubard 1998), so clusters widen it
exactly as they widen the SE. The standard error itself stays the (clustered) CLT one:
only the interval's shape changes, and `Estimate.interval` names it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import sparse, stats

Z_95 = float(stats.norm.ppf(0.975))
DEFAULT_RESAMPLES = 10_000
# Resamples per block of draws: the int64 indices stay a few MB however large the run.
_BLOCK = 1_000
# Below this share of non-zero entries, a sparse product is the faster one.
_SPARSE = 0.25

Array = NDArray[np.float64]
SumMetrics = Callable[[Array], Mapping[str, Array]]
"""Corpus metrics from column sums: (..., k) -> name -> (...), vectorised over leading axes."""


@dataclass(frozen=True)
class Estimate:
    """One number with its error bar.

    Attributes:
        value: the metric on the items as scored.
        stderr: standard error (NaN when undefined, e.g. one item).
        ci_low: lower end of the 95% interval.
        ci_high: upper end of the 95% interval.
        n: items the number is over.
        n_clusters: independent units (images) when the task declares clusters, else None.
        method: how the standard error was found: "clt", "cluster" or "bootstrap".
        interval: how the 95% interval was found: "normal" (value +- 1.96 SE, cut to
            the metric's range where it has one), "wilson", "wilson-design-effect"
            (clustered proportions), "percentile" (bootstrap) or "newcombe" (a paired
            difference of proportions).
    """

    value: float
    stderr: float
    ci_low: float
    ci_high: float
    n: int
    n_clusters: int | None = None
    method: str = "clt"
    interval: str = "normal"


@dataclass(frozen=True)
class CorpusMetrics:
    """Per-item columns whose sums determine a task's corpus-level metrics.

    Attributes:
        columns: shape (n_items, k); e.g. POPE's tp, fp, tn, fn, predicted-yes, 1.
        metrics: the metrics as a function of the column sums, (..., k) -> name -> (...).
    """

    columns: Array
    metrics: SumMetrics

    def values(self) -> dict[str, float]:
        """Each metric on the items as scored."""
        return {name: float(v) for name, v in self.metrics(self.columns.sum(axis=0)).items()}


def cluster_codes(labels: Sequence[Hashable] | None, n: int) -> NDArray[np.intp]:
    """Integer cluster ids 0..G-1 per item; without labels each item is its own cluster.

    Example:
        >>> cluster_codes(["a", "b", "a"], 3).tolist()
        [0, 1, 0]
    """
    if labels is None:
        return np.arange(n)
    if len(labels) != n:
        raise ValueError(f"{len(labels)} cluster labels for {n} items")
    _, codes = np.unique(np.asarray([str(x) for x in labels]), return_inverse=True)
    return np.asarray(codes, dtype=np.intp).reshape(-1)


def clustered_stderr(values: ArrayLike, codes: NDArray[np.intp]) -> float:
    """Cluster-robust SE of the mean: sqrt(G/(G-1) * sum_g (sum_{i in g} (s_i - mean))^2) / n.

    G/(G-1) is the small-sample factor statsmodels applies to an intercept-only OLS with
    `cov_type="cluster"`, so the two agree exactly. With singleton clusters this equals
    the sample SD (ddof=1) over sqrt(n), as lm-evaluation-harness reports.

    Example:
        >>> round(clustered_stderr([0.0, 1.0, 1.0, 0.0], np.arange(4)), 4)
        0.2887
    """
    return float(clustered_stderrs(np.asarray(values, dtype=np.float64), codes))


def clustered_stderrs(values: Array, codes: NDArray[np.intp]) -> Array:
    """`clustered_stderr` of each row of `values` (shape (..., n)), vectorised: (...)."""
    n = values.shape[-1]
    n_clusters = int(codes.max()) + 1 if n else 0
    if n_clusters < 2:  # noqa: PLR2004 - a spread needs two independent units
        return np.full(values.shape[:-1], np.nan)
    order = np.argsort(codes, kind="stable")
    starts = np.flatnonzero(np.diff(codes[order], prepend=-1))
    residuals = values - values.mean(axis=-1, keepdims=True)
    sums = np.add.reduceat(residuals[..., order], starts, axis=-1)
    variance = n_clusters / (n_clusters - 1) * np.sum(sums * sums, axis=-1) / n**2
    return np.asarray(np.sqrt(variance), dtype=np.float64)


def estimate_mean(
    values: ArrayLike,
    clusters: Sequence[Hashable] | None = None,
    bounds: tuple[float, float] | None = None,
) -> Estimate:
    """Mean, its (clustered where `clusters` is given) SE and a 95% CI inside its range.

    0/1 scores get the Wilson interval (design-effect Wilson when clustered); other
    scores the normal interval, cut to `bounds` (the item scores' range) where given:
    the mean cannot leave the range its items are in, so the cut loses no coverage.

    Example:
        >>> e = estimate_mean([1.0, 0.0, 1.0, 1.0])
        >>> (e.value, round(e.stderr, 3), e.method, e.interval)
        (0.75, 0.25, 'clt', 'wilson')
    """
    s = np.asarray(values, dtype=np.float64)
    codes = cluster_codes(clusters, s.size)
    value = float(s.mean()) if s.size else math.nan
    se = clustered_stderr(s, codes)
    n_clusters = None if clusters is None else int(codes.max()) + 1 if s.size else 0
    method = "clt" if clusters is None else "cluster"
    # 0/1 scores are a share unless their range says otherwise (BLEU max, all 0 here).
    if is_proportion(s) and bounds in (None, (0.0, 1.0)):
        n_eff = float(effective_n(s.size, se, clustered_stderr(s, np.arange(s.size)), n_clusters))
        low, high = wilson_interval(value, n_eff)
        kind = "wilson" if clusters is None else "wilson-design-effect"
        return Estimate(value, se, float(low), float(high), s.size, n_clusters, method, kind)
    return normal_estimate(value, se, s.size, n_clusters, method, bounds=bounds)


def is_proportion(values: Array) -> bool:
    """Whether every score is 0 or 1 (and there is at least one): a mean of them is a share."""
    return bool(values.size) and bool(np.isin(values, (0.0, 1.0)).all())


def wilson_interval(p: ArrayLike, n: ArrayLike) -> tuple[Array, Array]:
    """The Wilson score 95% interval of a proportion `p` over `n` (possibly effective) trials.

    (p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n); always inside [0, 1].
    Vectorised over arrays of p and n; n = 0 gives [0, 1].

    Example:
        >>> [round(float(x), 4) for x in wilson_interval(0.75, 20)]
        [0.5313, 0.8881]
    """
    p_, n_ = np.asarray(p, dtype=np.float64), np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        z2n = np.where(n_ > 0, Z_95 * Z_95 / n_, np.inf)
        centre = (p_ + z2n / 2) / (1 + z2n)
        half = Z_95 * np.sqrt(p_ * (1 - p_) / n_ + z2n * z2n / (4 * Z_95 * Z_95)) / (1 + z2n)
        # At p = 0 or 1 the end is exactly 0 or 1; rounding must not move it inside.
        low = np.where((n_ > 0) & (p_ > 0), np.clip(centre - half, 0.0, 1.0), 0.0)
        high = np.where((n_ > 0) & (p_ < 1), np.clip(centre + half, 0.0, 1.0), 1.0)
    return np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)


def effective_n(
    n: int, clustered_se: float, independent_se: float, n_clusters: int | None
) -> float:
    """The effective sample size n / deff, deff = (clustered SE / independent SE)^2 >= 1.

    Without clusters this is n. Where the design effect is unknowable from the data
    (every score equal, or a single cluster) the number of clusters, the independent
    units, stands in for n: the cautious choice.

    Example:
        >>> effective_n(40, 0.1, 0.05, 20)
        10.0
    """
    if n_clusters is None:
        return float(n)
    if not (independent_se > 0 and math.isfinite(clustered_se)):
        return float(n_clusters)
    deff = max(1.0, (clustered_se / independent_se) ** 2)
    return n / deff


def estimate_corpus(
    corpus: CorpusMetrics,
    clusters: Sequence[Hashable] | None = None,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> dict[str, Estimate]:
    """Each corpus metric with a seeded bootstrap SE (SD of the replicates) and percentile CI.

    Clusters (or items) are drawn with replacement; the same seed and item set give the
    same resamples, so a model's interval here matches its side of a paired comparison.
    """
    n = corpus.columns.shape[0]
    codes = cluster_codes(clusters, n)
    replicates = bootstrap_sums(cluster_sums(corpus.columns, codes), resamples, seed)
    n_clusters = None if clusters is None else int(codes.max()) + 1
    draws = corpus.metrics(replicates)
    return {
        name: summarize_replicates(value, draws[name], n, n_clusters)
        for name, value in corpus.values().items()
    }


def summarize_replicates(
    value: float, replicates: Array, n: int, n_clusters: int | None
) -> Estimate:
    """A bootstrap Estimate: SD of the finite replicates, their 2.5 and 97.5 percentiles.

    A resample whose metric is undefined (NaN: no predicted yes, say) is left out; when
    fewer than two remain the error bar is NaN rather than a made-up number.
    """
    finite = replicates[np.isfinite(replicates)]
    if finite.size < 2:  # noqa: PLR2004 - a spread needs two replicates
        return Estimate(
            value, math.nan, math.nan, math.nan, n, n_clusters, "bootstrap", "percentile"
        )
    low, high = np.percentile(finite, [2.5, 97.5])
    return Estimate(
        value,
        float(finite.std(ddof=1)),
        float(low),
        float(high),
        n,
        n_clusters,
        "bootstrap",
        "percentile",
    )


def bootstrap_sums(sums_by_cluster: Array, resamples: int, seed: int) -> Array:
    """Column sums of `resamples` bootstrap draws of clusters, shape (resamples, k).

    `sums_by_cluster` is (G, k): each cluster's column sums; a resample's sums are its
    cluster counts times these, so all resamples are one matrix product.
    """
    counts = resample_counts(sums_by_cluster.shape[0], resamples, seed)
    return weighted_sums(counts, sums_by_cluster)


@functools.lru_cache(maxsize=4)
def resample_counts(n_clusters: int, resamples: int, seed: int) -> NDArray[np.float32]:
    """How often each of G clusters is drawn in each resample: (G, resamples), read-only.

    The draws depend only on G, the count and the seed, so every model of a task and
    every pair share them (the pairing a paired bootstrap needs) and they are made once
    per process. Counts are small integers, exact in float32, which halves the products;
    clusters are rows so the products below read the array in memory order.
    """
    rng = np.random.default_rng(seed)
    counts = np.empty((n_clusters, resamples), dtype=np.float32)
    for start in range(0, resamples, _BLOCK):
        rows = min(_BLOCK, resamples - start)
        # Column r of `draws` is resample r; cluster g of it lands at g * rows + r.
        draws = rng.integers(0, n_clusters, size=(n_clusters, rows))
        block = np.bincount((draws * rows + np.arange(rows)).ravel(), minlength=n_clusters * rows)
        counts[:, start : start + rows] = block.reshape(n_clusters, rows)
    counts.flags.writeable = False
    return counts


def weighted_sums(weights: NDArray[np.float32], sums_by_cluster: Array) -> Array:
    """Replicate sums `weights.T @ sums_by_cluster`: (G, R) and (G, k) give (R, k) float64.

    Sparse when the columns are mostly zero (MME has four per subtask, zero outside it).
    float32 products keep ~7 digits, ample for an error bar; the point value itself
    is always computed from the float64 totals.
    """
    matrix = sums_by_cluster.T.astype(np.float32)
    if np.count_nonzero(matrix) < _SPARSE * matrix.size:
        product = sparse.csr_matrix(matrix) @ weights
    else:
        product = matrix @ weights
    return np.asarray(product, dtype=np.float64).T


def cluster_sums(columns: Array, codes: NDArray[np.intp]) -> Array:
    """(G, k): the columns summed within each cluster."""
    n_clusters = int(codes.max()) + 1 if codes.size else 0
    sums = np.zeros((n_clusters, columns.shape[1]))
    np.add.at(sums, codes, columns)
    return sums


def normal_estimate(
    value: float,
    se: float,
    n: int,
    n_clusters: int | None,
    method: str,
    *,
    bounds: tuple[float, float] | None = None,
) -> Estimate:
    """An Estimate with the normal 95% interval value +- 1.96 SE, cut to `bounds` if given."""
    low, high = value - Z_95 * se, value + Z_95 * se
    if bounds is not None:
        low, high = min(max(low, bounds[0]), bounds[1]), max(min(high, bounds[1]), bounds[0])
    return Estimate(value, se, low, high, n, n_clusters, method, "normal")
