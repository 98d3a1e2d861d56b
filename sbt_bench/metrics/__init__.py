"""Metrics: pure functions from predictions (or log-likelihoods) and targets to numbers.

Item-level scorers are registered by name so task YAMLs can refer to them, each with the
direction of what it reports (`directions.py`: higher, lower, or no better direction).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial

from sbt_bench.core.registry import Registry
from sbt_bench.metrics.directions import METRIC_DIRECTIONS, HigherIsBetter, declare_metrics
from sbt_bench.metrics.multiple_choice import choice_accuracy, true_mass
from sbt_bench.metrics.oodcv import oodcv_correct, oodcv_correct_official, score_oodcv_item
from sbt_bench.metrics.overlap import OVERLAP_METRICS, truthfulqa_overlap
from sbt_bench.metrics.yes_no import (
    parse_mme,
    parse_mme_official,
    parse_pope,
    parse_pope_official,
    parse_sketchy,
    parse_sketchy_official,
    score_yes_no_item,
)

ChoiceScorer = Callable[[Sequence[float], Sequence[int]], float]
GenerationScorer = Callable[[str, Sequence[str], Sequence[str]], Mapping[str, float]]

CHOICE_SCORERS: Registry[ChoiceScorer] = Registry("choice scorer")
CHOICE_DIRECTIONS: dict[str, HigherIsBetter] = {}
"""Choice scorer name -> its direction (a task's YAML names the metric it reports)."""


def register_choice_scorer(name: str, scorer: ChoiceScorer, *, higher_is_better: bool) -> None:
    """Register a choice scorer with the direction of the number it gives."""
    CHOICE_SCORERS.register(name, scorer)
    CHOICE_DIRECTIONS[name] = higher_is_better


register_choice_scorer("choice_accuracy", choice_accuracy, higher_is_better=True)
register_choice_scorer("true_mass", true_mass, higher_is_better=True)


@dataclass(frozen=True)
class ItemScorer:
    """A generation scorer and the per-item scores it reports (empty: none a task can ask for).

    Tasks whose aggregate names its own outputs (POPE, MME, captions) read those instead.
    """

    score: GenerationScorer
    outputs: tuple[str, ...] = ()
    """Names declared with their direction: `declare_metrics({"acc": True})` gives them."""


GENERATION_SCORERS: Registry[ItemScorer] = Registry("generation scorer")
# BLEU/ROUGE max, acc (closer to a true than to a false answer) and diff: higher is better.
OVERLAP_OUTPUTS = METRIC_DIRECTIONS.declare(dict.fromkeys(OVERLAP_METRICS, True))
GENERATION_SCORERS.register("truthfulqa_overlap", ItemScorer(truthfulqa_overlap, OVERLAP_OUTPUTS))
for _name, _parse in (
    ("pope", parse_pope),
    ("pope_official", parse_pope_official),
    ("mme", parse_mme),
    ("mme_official", parse_mme_official),
    ("sketchy", parse_sketchy),
    ("sketchy_official", parse_sketchy_official),
):
    GENERATION_SCORERS.register(_name, ItemScorer(partial(score_yes_no_item, _parse)))
for _suffix, _judge in (("", oodcv_correct), ("_official", oodcv_correct_official)):
    GENERATION_SCORERS.register(
        f"oodcv{_suffix}", ItemScorer(partial(score_oodcv_item, _judge, counterfactual=False))
    )
    GENERATION_SCORERS.register(
        f"oodcv_counterfactual{_suffix}",
        ItemScorer(partial(score_oodcv_item, _judge, counterfactual=True)),
    )
# Captions are scored over the whole corpus (CIDEr's IDF), so items carry no scores.
GENERATION_SCORERS.register("none", ItemScorer(lambda _answer, _refs, _negs: {}))

__all__ = [
    "CHOICE_DIRECTIONS",
    "CHOICE_SCORERS",
    "GENERATION_SCORERS",
    "METRIC_DIRECTIONS",
    "HigherIsBetter",
    "ItemScorer",
    "choice_accuracy",
    "declare_metrics",
    "register_choice_scorer",
    "true_mass",
    "truthfulqa_overlap",
]
