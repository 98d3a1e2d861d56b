"""Aggregation of per-item scores: mean and its standard error."""

from __future__ import annotations

import math
from collections.abc import Sequence


def mean(values: Sequence[float]) -> float:
    """Arithmetic mean; NaN for no values."""
    return sum(values) / len(values) if values else math.nan


def stderr_of_mean(values: Sequence[float]) -> float:
    """Sample standard deviation (ddof=1) over sqrt(n), as lm-evaluation-harness reports it."""
    n = len(values)
    if n < 2:  # noqa: PLR2004 - a spread needs two points
        return math.nan
    mu = mean(values)
    return math.sqrt(sum((v - mu) ** 2 for v in values) / (n - 1) / n)


def stderr_of_mean_of_means(stderrs: Sequence[float]) -> float:
    """Standard error of an unweighted mean of independent subtask means."""
    return math.sqrt(sum(s * s for s in stderrs)) / len(stderrs) if stderrs else math.nan


def item_weighted_mean(
    values: Sequence[float], stderrs: Sequence[float], counts: Sequence[int]
) -> tuple[float, float]:
    """Mean over every item of independent subtasks, from their means, SEs and item counts.

    Each subtask weighs n_t / N, so the SE is sqrt(sum (n_t SE_t)^2) / N.
    """
    total = sum(counts)
    if not total:
        return math.nan, math.nan
    value = sum(v * n for v, n in zip(values, counts, strict=True)) / total
    se = math.sqrt(sum((s * n) ** 2 for s, n in zip(stderrs, counts, strict=True))) / total
    return value, se
