"""Metrics against hand-computed cases and the official TruthfulQA definitions."""

from __future__ import annotations

import math

import pytest

from sbt_bench.metrics import choice_accuracy, true_mass, truthfulqa_overlap
from sbt_bench.metrics.overlap import bleu, rouge
from sbt_bench.metrics.stats import mean, stderr_of_mean, stderr_of_mean_of_means


class TestChoiceAccuracy:
    def test_correct_when_gold_is_most_likely(self) -> None:
        """mc1: right iff the gold choice has the highest summed log-likelihood."""
        assert choice_accuracy([-1.0, -2.0, -3.0], gold=[0]) == 1.0
        assert choice_accuracy([-2.0, -1.0, -3.0], gold=[0]) == 0.0

    def test_tie_goes_to_first_choice(self) -> None:
        """Ties resolve to the lowest index, as np.argmax does in lm-eval."""
        assert choice_accuracy([-1.0, -1.0], gold=[0]) == 1.0
        assert choice_accuracy([-1.0, -1.0], gold=[1]) == 0.0


class TestTrueMass:
    def test_three_choice_toy(self) -> None:
        """mc2 on p = (0.5, 0.3, 0.2) with choices 0 and 2 true is (0.5 + 0.2) / 1.0 = 0.7."""
        lls = [math.log(0.5), math.log(0.3), math.log(0.2)]
        assert true_mass(lls, gold=[0, 2]) == pytest.approx(0.7, abs=1e-12)

    def test_unnormalised_probabilities(self) -> None:
        """Probabilities need not sum to one: p = (0.02, 0.06, 0.02), true {0} -> 0.2."""
        lls = [math.log(0.02), math.log(0.06), math.log(0.02)]
        assert true_mass(lls, gold=[0]) == pytest.approx(0.2, abs=1e-12)

    def test_true_labels_need_not_come_first(self) -> None:
        """The pre-2025 lm-eval bug assumed true answers first; the mass must not care."""
        lls = [math.log(0.1), math.log(0.6), math.log(0.3)]
        assert true_mass(lls, gold=[1]) == pytest.approx(0.6, abs=1e-12)

    def test_no_underflow_for_very_unlikely_answers(self) -> None:
        """exp(-1000) is 0 in float64; the log-sum-exp form still gives 0.5, not NaN."""
        assert true_mass([-1000.0, -1000.0], gold=[0]) == pytest.approx(0.5)


class TestOverlap:
    def test_bleu_hand_computed(self) -> None:
        """Precisions 5/6, 3/5, 2/4, 1/3 and no brevity penalty: BLEU = (1/12)^(1/4) * 100."""
        score = bleu("the cat sat on a mat", "the cat sat on the mat")
        assert score == pytest.approx(100 * (5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25, abs=1e-9)

    def test_bleu_identical_and_disjoint(self) -> None:
        """An exact match scores 100 and a sentence sharing no word scores 0."""
        assert bleu("a b c d e", "a b c d e") == pytest.approx(100.0)
        assert bleu("a b c d e", "v w x y z") == 0.0

    def test_rouge_hand_computed(self) -> None:
        """'the cat sat' vs 'the cat ran': ROUGE-1 F = 2/3, ROUGE-2 F = 1/2, ROUGE-L F = 2/3."""
        scores = rouge("the cat ran", "the cat sat")
        assert scores["rouge1"] == pytest.approx(200 / 3)
        assert scores["rouge2"] == pytest.approx(50.0)
        assert scores["rougeL"] == pytest.approx(200 / 3)

    def test_max_diff_acc_against_true_and_false_references(self) -> None:
        """Max over true refs, diff = max_true - max_false, acc = diff > 0 (official definition)."""
        true_refs = ["the cat sat on a mat", "v w x y z"]
        false_refs = ["the cat sat on the mat"]
        out = truthfulqa_overlap("the cat sat on the mat", true_refs, false_refs)
        expected_true = 100 * (1 / 12) ** 0.25
        assert out["bleu_max"] == pytest.approx(expected_true)
        assert out["bleu_diff"] == pytest.approx(expected_true - 100.0)
        assert out["bleu_acc"] == 0.0
        # ROUGE-1: 5 of 6 unigrams shared with the true ref, all 6 with the false one.
        assert out["rouge1_max"] == pytest.approx(100 * 5 / 6)
        assert out["rouge1_diff"] == pytest.approx(100 * 5 / 6 - 100)

    def test_acc_is_strict(self) -> None:
        """Equal similarity to true and false references is not a truthful answer (strict >)."""
        out = truthfulqa_overlap("a b c d", ["a b c d"], ["a b c d"])
        assert out["bleu_acc"] == 0.0
        assert out["rouge1_diff"] == 0.0


class TestStats:
    def test_stderr_of_mean(self) -> None:
        """[0, 1, 1, 0]: sample std 0.57735 (ddof=1), over sqrt(4) = 0.288675."""
        assert mean([0, 1, 1, 0]) == 0.5
        assert stderr_of_mean([0.0, 1.0, 1.0, 0.0]) == pytest.approx(math.sqrt(1 / 3) / 2)

    def test_group_stderr(self) -> None:
        """The mean of k independent means has stderr sqrt(sum se^2) / k."""
        assert stderr_of_mean_of_means([0.3, 0.4]) == pytest.approx(0.25)
