"""Per-item multiple-choice scores from summed continuation log-likelihoods."""

from __future__ import annotations

import math
from collections.abc import Sequence


def choice_accuracy(loglikelihoods: Sequence[float], gold: Sequence[int]) -> float:
    """1.0 if the highest-scoring choice is a correct one (first index wins ties, as np.argmax).

    This is TruthfulQA mc1 and ETHICS accuracy as lm-evaluation-harness defines them.

    Example:
        >>> choice_accuracy([-3.0, -1.0, -2.0], gold=[1])
        1.0
    """
    best = max(range(len(loglikelihoods)), key=lambda i: (loglikelihoods[i], -i))
    return float(best in gold)


def true_mass(loglikelihoods: Sequence[float], gold: Sequence[int]) -> float:
    """Normalised probability mass on the correct choices (TruthfulQA mc2).

    Computed as exp(logsumexp(ll[gold]) - logsumexp(ll)), which equals lm-eval's
    sum(exp(ll[gold])) / sum(exp(ll)) but cannot underflow to 0/0 for very unlikely answers.

    Example:
        >>> round(true_mass([math.log(0.2), math.log(0.1), math.log(0.1)], gold=[0]), 6)
        0.5
    """
    return math.exp(_logsumexp([loglikelihoods[i] for i in gold]) - _logsumexp(loglikelihoods))


def _logsumexp(values: Sequence[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))
