"""Which way each metric is better, declared where the metric is registered.

`True`: higher is better (accuracy, CIDEr); `False`: lower is better (the CIDEr drop under
corruptions, unparseable answers); `None`: no better direction (POPE's `yes_ratio` is best
at 0.5, not at either end). The leaderboard sorts by it, and `--base` and `compare` call a
significant difference an improvement or a regression by it; a metric without a direction
is never marked either way.

A name means one thing: declaring it again with another direction is an error at import.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from sbt_bench.core.errors import SbtError

HigherIsBetter = bool | None
Verdict = Literal["better", "worse"]


class MetricDirections:
    """Metric name -> HigherIsBetter, each name declared once (or again the same way)."""

    def __init__(self) -> None:
        self._by_name: dict[str, HigherIsBetter] = {}

    def declare(self, outputs: Mapping[str, HigherIsBetter]) -> tuple[str, ...]:
        """Declare each metric's direction; returns the names, in order (a registry's outputs).

        Raises:
            ValueError: a name already declared with another direction.
        """
        for name, direction in outputs.items():
            if name in self._by_name and self._by_name[name] is not direction:
                raise ValueError(
                    f"metric {name!r} is declared both higher_is_better={self._by_name[name]} "
                    f"and {direction}; give one of them another name"
                )
            self._by_name[name] = direction
        return tuple(outputs)

    def get(self, name: str) -> HigherIsBetter:
        """The declared direction of `name`.

        Raises:
            SbtError: the name was never declared.
        """
        if name not in self._by_name:
            raise SbtError(
                f"metric {name!r} declares no direction; declare higher_is_better "
                "(True, False or None) where it is registered"
            )
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name


METRIC_DIRECTIONS = MetricDirections()
declare_metrics = METRIC_DIRECTIONS.declare


def judge_difference(
    difference: float, *, higher_is_better: HigherIsBetter, significant: bool
) -> Verdict | None:
    """`other - base` as an improvement or a regression; None if not significant or undirected.

    Example:
        A drop in accuracy, a rise in the CIDEr drop, a rise in yes_ratio:

        >>> judge_difference(-0.1, higher_is_better=True, significant=True)
        'worse'
        >>> judge_difference(0.2, higher_is_better=False, significant=True)
        'worse'
        >>> judge_difference(0.3, higher_is_better=None, significant=True) is None
        True
    """
    if not significant or higher_is_better is None or difference == 0:
        return None
    return "better" if (difference > 0) == higher_is_better else "worse"
