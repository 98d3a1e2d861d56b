"""Metrics: pure functions from predictions (or log-likelihoods) and targets to numbers.

Item-level scorers are registered by name so task YAMLs can refer to them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial

from sbt_bench.core.registry import Registry
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
CHOICE_SCORERS.register("choice_accuracy", choice_accuracy)
CHOICE_SCORERS.register("true_mass", true_mass)


@dataclass(frozen=True)
class ItemScorer:
    """A generation scorer and the per-item scores it reports (empty: none a task can ask for).

    Tasks whose aggregate names its own outputs (POPE, MME, captions) read those instead.
    """

    score: GenerationScorer
    outputs: tuple[str, ...] = ()


GENERATION_SCORERS: Registry[ItemScorer] = Registry("generation scorer")
GENERATION_SCORERS.register("truthfulqa_overlap", ItemScorer(truthfulqa_overlap, OVERLAP_METRICS))
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
    "CHOICE_SCORERS",
    "GENERATION_SCORERS",
    "ItemScorer",
    "choice_accuracy",
    "true_mass",
    "truthfulqa_overlap",
]
