"""Which way each metric is better, declared where the metric is registered.

`True`: higher is better (accuracy, CIDEr); `False`: lower is better (the CIDEr drop under
corruptions, unparseable answers); `None`: no better direction (POPE's `yes_ratio` is best
at 0.5, not at either end). The leaderboard sorts by it, and `--base` and `compare` call a
significant difference an improvement or a regression by it; a metric without a direction
is never marked either way.

A name means one thing: declaring it again with another direction is an error at import.
The bundled metrics are declared in `METRIC_DIRECTIONS`; a run's user hook modules declare
theirs (`declare_metrics`) into an overlay the run's catalog carries (`declaring_into`), so
a user's metric neither outlives the run nor clashes with another run's of the same name.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Literal

from sbt_bench.core.errors import SbtError

HigherIsBetter = bool | None
Verdict = Literal["better", "worse"]


class MetricDirections:
    """Metric name -> HigherIsBetter, each name declared once (or again the same way)."""

    def __init__(self, layers: ChainMap[str, HigherIsBetter] | None = None) -> None:
        # An overlay's own declarations in front, the ones it lies over behind (read-only:
        # a ChainMap writes to its first map only).
        self._by_name: ChainMap[str, HigherIsBetter] = ChainMap() if layers is None else layers

    def overlay(self) -> MetricDirections:
        """Directions that answer with these too; what is declared in them stays in them."""
        return MetricDirections(self._by_name.new_child())

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
"""The bundled metrics' directions (bundled modules declare into it by name)."""

_DECLARING: ContextVar[MetricDirections] = ContextVar("declaring", default=METRIC_DIRECTIONS)
"""Where `declare_metrics` declares: a run's overlay while its user hook modules import."""


def declare_metrics(outputs: Mapping[str, HigherIsBetter]) -> tuple[str, ...]:
    """Declare each metric's direction where the code being imported belongs; the names.

    A user hook module calls it at import; its run's catalog imports it `declaring_into`
    that run's directions, so the declaration ends with the run.

    Raises:
        ValueError: a name already declared there (or in the bundled ones) another way.
    """
    return _DECLARING.get().declare(outputs)


@contextmanager
def declaring_into(directions: MetricDirections) -> Iterator[MetricDirections]:
    """Within the block, `declare_metrics` declares into `directions`."""
    token = _DECLARING.set(directions)
    try:
        yield directions
    finally:
        _DECLARING.reset(token)


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
