"""A group's unweighted mean of subtask differences (the paper's ETHICS average), paired.

The subtasks hold different items, so their paired differences are independent: the
mean of T differences has variance sum(SE_t^2) / T^2, and its test is a Wald z-test.
Where every subtask is a proportion (0/1 scores), the mean stays in [0, 1] and its
difference in [-1, 1]: the normal intervals are cut there (a cut at a bound the true
value cannot pass loses no coverage).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from sbt_bench.metrics.intervals import Estimate, normal_estimate
from sbt_bench.metrics.paired import PairedComparison, mde_with_note


def mean_of_comparisons(metric: str, parts: Sequence[PairedComparison]) -> PairedComparison:
    """The unweighted mean of independent subtask comparisons, with its z-test.

    Example:
        >>> from sbt_bench.metrics.paired import compare_means
        >>> a = compare_means("acc", [0, 1, 1, 0], [1, 1, 1, 0])
        >>> b = compare_means("acc", [1, 1, 0], [1, 1, 0])
        >>> mean_of_comparisons("acc", [a, b]).difference
        0.125
    """
    if not parts:
        raise ValueError("a mean of comparisons needs at least one")
    diff = sum(p.difference for p in parts) / len(parts)
    se = _mean_stderr([p.stderr for p in parts])
    shares = all(p.interval.startswith("newcombe") for p in parts)
    interval = normal_estimate(diff, se, 0, None, "clt", bounds=(-1.0, 1.0) if shares else None)
    mde, note = mde_with_note(se)
    if se > 0 and math.isfinite(se):
        p_value = math.erfc(abs(diff) / se / math.sqrt(2))  # two-sided normal p
    else:
        p_value = 1.0 if diff == 0 else math.nan
    return PairedComparison(
        metric=metric,
        base=_mean_estimate([p.base for p in parts], shares=shares),
        other=_mean_estimate([p.other for p in parts], shares=shares),
        difference=diff,
        stderr=se,
        ci_low=interval.ci_low,
        ci_high=interval.ci_high,
        p_value=p_value,
        p_holm=p_value,
        mde=mde,
        n_paired=sum(p.n_paired for p in parts),
        test="mean-of-subtasks-z",
        mde_note=note,
    )


def _mean_stderr(stderrs: Sequence[float]) -> float:
    return math.sqrt(sum(s * s for s in stderrs)) / len(stderrs)


def _mean_estimate(parts: Sequence[Estimate], *, shares: bool) -> Estimate:
    value = sum(e.value for e in parts) / len(parts)
    se = _mean_stderr([e.stderr for e in parts])
    bounds = (0.0, 1.0) if shares else None
    return normal_estimate(value, se, sum(e.n for e in parts), None, "clt", bounds=bounds)
