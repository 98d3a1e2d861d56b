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
