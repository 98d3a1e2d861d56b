"""Flipped items on every per-item 0/1 score, why a task has none, and MDE notes in `compare`."""

from __future__ import annotations

import json
import math

from sbt_bench.analysis.flips import NO_BINARY_SCORE, explain_no_flips, find_flips
from sbt_bench.analysis.pairing import ModelComparison, TaskComparison, render_comparisons
from sbt_bench.analysis.report.page import _flip_section
from sbt_bench.core.types import ItemResult, Sample
from sbt_bench.metrics.paired import MDE_ZERO_VARIANCE, compare_means


def items(scores: list[dict[str, float]]) -> list[ItemResult]:
    """Scored items q0, q1, ... with the given per-item scores."""
    return [
        ItemResult(Sample(f"q{i}", f"question {i}", references=("yes",)), f"answer {i}", s)
        for i, s in enumerate(scores)
    ]


def test_a_changed_bleu_acc_is_a_flip_of_that_metric() -> None:
    """TruthfulQA gen: bleu_acc 0 -> 1 flips the item under `bleu_acc`; bleu_max never flips."""
    base = items([{"bleu_acc": 0.0, "bleu_max": 12.5}, {"bleu_acc": 1.0, "bleu_max": 40.0}])
    other = items([{"bleu_acc": 1.0, "bleu_max": 30.0}, {"bleu_acc": 1.0, "bleu_max": 41.0}])
    flips = find_flips("truthfulqa_gen", base, other)
    assert [(f.metric, f.id, f.direction) for f in flips] == [("bleu_acc", "q0", "wrong->right")]


def test_answer_bookkeeping_scores_are_not_flips() -> None:
    """POPE's pred_yes and parsed are 0/1 but record the answer, not its correctness."""
    base = items([{"correct": 1.0, "pred_yes": 1.0, "parsed": 1.0}])
    other = items([{"correct": 1.0, "pred_yes": 1.0, "parsed": 0.0}])
    assert find_flips("pope", base, other) == []
    assert explain_no_flips(base, other, []) == (
        "the two models score every item alike on correct: no item flipped"
    )


def test_a_continuous_score_gives_no_flips_and_says_why() -> None:
    """mc2's mass is 0 or 1 on one item but not on all: never a flip, and the note says so."""
    base = items([{"acc": 0.0}, {"acc": 0.42}])
    other = items([{"acc": 1.0}, {"acc": 0.43}])
    assert find_flips("truthfulqa_mc2", base, other) == []
    assert explain_no_flips(base, other, []) == NO_BINARY_SCORE


def test_compare_shows_a_not_estimable_mde_with_its_reason() -> None:
    """Identical scores: the MDE cell reads n/e with a footnote; JSON has null and the note."""
    row = compare_means("acc", [1.0, 0.0, 1.0], [1.0, 0.0, 1.0])
    task = TaskComparison("ethics_cm", (row,), flips_note="no flip", flip_scores=("acc",))
    comparison = ModelComparison("a", "b", (task,))
    markdown = render_comparisons([comparison], "md")
    assert "| n/e1 |" in markdown
    assert f"- MDE n/e1: {MDE_ZERO_VARIANCE}" in markdown
    assert "ethics_cm: no flipped items (no flip)" in markdown
    doc = json.loads(render_comparisons([comparison], "json"))
    metric_row = next(r for r in doc[0]["rows"] if "metric" in r)
    assert metric_row["mde"] is None
    assert metric_row["mde_note"] == MDE_ZERO_VARIANCE
    assert metric_row["interval"] == "newcombe"
    assert math.isnan(row.mde)


def test_report_flip_section_says_why_it_is_empty() -> None:
    """A compared task without flips gets a sentence, not an empty heading."""
    task = TaskComparison("truthfulqa_mc2", (), flips_note=NO_BINARY_SCORE)
    html = _flip_section("other", task)
    assert "no flipped items" in html
    assert "continuous" in html
