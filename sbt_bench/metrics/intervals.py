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
        method: how the interval was found: "clt", "cluster" or "bootstrap".
    """

    value: float
    stderr: float
    ci_low: float
    ci_high: float
    n: int
    n_clusters: int | None = None
    method: str = "clt"


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


def estimate_mean(values: ArrayLike, clusters: Sequence[Hashable] | None = None) -> Estimate:
    """Mean, its (clustered where `clusters` is given) SE and the normal 95% CI.

    Example:
        >>> e = estimate_mean([1.0, 0.0, 1.0, 1.0])
        >>> (e.value, round(e.stderr, 3), e.method)
        (0.75, 0.25, 'clt')
    """
    s = np.asarray(values, dtype=np.float64)
    codes = cluster_codes(clusters, s.size)
    value = float(s.mean()) if s.size else math.nan
    se = clustered_stderr(s, codes)
    n_clusters = None if clusters is None else int(codes.max()) + 1 if s.size else 0
    return normal_estimate(value, se, s.size, n_clusters, "clt" if clusters is None else "cluster")


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
        return Estimate(value, math.nan, math.nan, math.nan, n, n_clusters, "bootstrap")
    low, high = np.percentile(finite, [2.5, 97.5])
    return Estimate(
        value, float(finite.std(ddof=1)), float(low), float(high), n, n_clusters, "bootstrap"
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
    value: float, se: float, n: int, n_clusters: int | None, method: str
) -> Estimate:
    """An Estimate with the normal 95% interval value +- 1.96 SE."""
    return Estimate(value, se, value - Z_95 * se, value + Z_95 * se, n, n_clusters, method)
