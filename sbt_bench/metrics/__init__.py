"""Metrics: pure functions from predictions (or log-likelihoods) and targets to numbers.

Item-level scorers are registered by name so task YAMLs can refer to them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from sbt_bench.metrics.multiple_choice import choice_accuracy, true_mass
from sbt_bench.metrics.overlap import OVERLAP_METRICS, truthfulqa_overlap
from sbt_bench.registry import Registry

ChoiceScorer = Callable[[Sequence[float], Sequence[int]], float]
GenerationScorer = Callable[[str, Sequence[str], Sequence[str]], Mapping[str, float]]

CHOICE_SCORERS: Registry[ChoiceScorer] = Registry("choice scorer")
CHOICE_SCORERS.register("choice_accuracy", choice_accuracy)
CHOICE_SCORERS.register("true_mass", true_mass)

GENERATION_SCORERS: Registry[GenerationScorer] = Registry("generation scorer")
GENERATION_SCORERS.register("truthfulqa_overlap", truthfulqa_overlap)

# What each generation scorer can report, so a task YAML asking for more fails at load time.
GENERATION_SCORER_OUTPUTS: Mapping[str, tuple[str, ...]] = {"truthfulqa_overlap": OVERLAP_METRICS}

__all__ = [
    "CHOICE_SCORERS",
    "GENERATION_SCORERS",
    "GENERATION_SCORER_OUTPUTS",
    "choice_accuracy",
    "true_mass",
    "truthfulqa_overlap",
]
