"""Yes/no and OODCV scorers on hand-computed cases, official quirks included."""

from __future__ import annotations

import pytest

from sbt_bench.metrics.oodcv import (
    find_counterfactual_clause,
    oodcv_correct,
    oodcv_correct_official,
    process_punctuation,
)
from sbt_bench.metrics.yes_no import (
    binary_scores,
    mme_subtask_score,
    parse_mme,
    parse_mme_official,
    parse_pope,
    parse_pope_official,
    parse_sketchy,
    parse_sketchy_official,
)


@pytest.mark.parametrize(
    ("reply", "official", "default"),
    [
        ("Yes, there is a dog.", "yes", "yes"),
        ("No, there is not.", "no", "no"),
        ("NO", "yes", "no"),  # the original matches case-sensitive words only
        ("no.", "no", "no"),
        ("Yes. No dog here.", "yes", "yes"),  # only the first sentence counts
        ("There is not a cat", "no", "no"),
        ("I cannot tell", "yes", "yes"),  # anything without no/not is yes
        ("", "yes", None),  # no word at all: the original's yes, the default's unparseable
        (" ...", "yes", None),
        ("2", "yes", None),
    ],
)
def test_pope_parsers(reply: str, official: str, default: str | None) -> None:
    """First-sentence no/not is no; the default folds case and leaves wordless replies unparsed."""
    assert parse_pope_official(reply) == official
    assert parse_pope(reply) == default


@pytest.mark.parametrize(
    ("reply", "official", "default"),
    [
        ("Yes", "yes", "yes"),
        ("no", "no", "no"),
        ("Yes, there is.", "yes", "yes"),
        ("There is no giraffe.", "other", "other"),  # only the first 4 characters are read
        ("**Yes**", "other", "yes"),
        ("Not really", "no", "no"),
    ],
)
def test_mme_parsers(reply: str, official: str, default: str) -> None:
    """MME reads yes/no exactly, else within the first four lower-cased characters."""
    assert parse_mme_official(reply) == official
    assert parse_mme(reply) == default


def test_sketchy_parsers_leave_unclear_answers_unparsed() -> None:
    """Sketchy-VQA: no-words win over yes-words; neither gives None (counted, not scored)."""
    assert parse_sketchy_official("Yes, it is not a cat") == "no"
    assert parse_sketchy_official("yeah") == "yes"
    assert parse_sketchy_official("Maybe.") is None
    assert parse_sketchy_official("No.") is None  # the script keeps the period on the word
    assert parse_sketchy("No.") == "no"


def test_binary_scores_hand_computed() -> None:
    """TP=FP=TN=FN=1 plus one unparseable: 0.5 everywhere, yes-ratio over all five answers."""
    scores = binary_scores(["yes", "yes", "no", "no", None], ["yes", "no", "no", "yes", "yes"])
    assert scores.accuracy == 0.5
    assert scores.precision == 0.5
    assert scores.recall == 0.5
    assert scores.f1 == 0.5
    assert scores.yes_ratio == pytest.approx(2 / 5)
    assert scores.n_unparseable == 1


def test_binary_scores_use_predictions_not_labels() -> None:
    """A model answering yes to everything has yes-ratio 1, whatever the labels' balance."""
    scores = binary_scores(["yes"] * 4, ["yes", "no", "yes", "no"])
    assert scores.yes_ratio == 1.0
    assert scores.recall == 1.0
    assert scores.precision == 0.5
    assert scores.f1 == pytest.approx(2 / 3)


def test_mme_subtask_score_counts_images_with_both_answers_right() -> None:
    """3 of 6 answers right (50) and 1 of 3 images fully right (33.3)."""
    acc, acc_plus = mme_subtask_score(
        [True, True, True, False, False, False], ["a", "a", "b", "b", "c", "c"]
    )
    assert acc == 50.0
    assert acc_plus == pytest.approx(100 / 3)


def test_oodcv_official_substring_quirks_and_default_words() -> None:
    """The script's substring match finds "no" in "snow" and "2" in "12"; words do not."""
    assert oodcv_correct_official("There is snow", "0", counterfactual=False)
    assert not oodcv_correct("There is snow", "0", counterfactual=False)
    assert oodcv_correct_official("I see 12 cats", "2", counterfactual=False)
    assert not oodcv_correct("I see 12 cats", "2", counterfactual=False)
    assert oodcv_correct("There are two bicycles.", "2", counterfactual=False)
    assert not oodcv_correct_official("There is 0 unicorns", "0", counterfactual=False)


def test_oodcv_punctuation_processing_matches_the_script() -> None:
    """Separated punctuation is deleted, attached punctuation becomes a space; periods go."""
    assert process_punctuation("Yes, there are 2.") == "Yes there are 2"
    assert process_punctuation("one-two") == "one two"


def test_counterfactual_clause_extraction() -> None:
    """The clause after 'If ...,' is what is scored; a refusal becomes a wrong answer."""
    reply = "If two were removed, there would be 3 chairs"
    clause = find_counterfactual_clause(reply, yes_no=False)
    assert clause == " there would be 3 chairs"
    assert find_counterfactual_clause("I'm sorry, I cannot", yes_no=True) == "Bad Texts."
    assert find_counterfactual_clause("No there would not", yes_no=True) == "No"


def test_oodcv_aggregate_breaks_down_by_situation_and_count() -> None:
    """Overall, yes/no and digit accuracy; per situation; per gold count and situation."""
    from sbt_bench.core.types import ItemResult, Sample
    from sbt_bench.tasks.aggregators import oodcv_scores

    def item(gold: str, situation: str, correct: float) -> ItemResult:
        sample = Sample(id=gold, context="q", references=(gold,), subset=situation)
        return ItemResult(sample=sample, prediction="", scores={"correct": correct})

    items = [
        item("Yes", "weather", 1),
        item("2", "weather", 0),
        item("2", "iid", 1),
        item("0", "iid", 1),
    ]
    scores = oodcv_scores(items, ())
    assert scores.metrics == pytest.approx(
        {"accuracy": 0.75, "yes_no_accuracy": 1.0, "digits_accuracy": 2 / 3}
    )
    assert scores.breakdown["weather"] == pytest.approx(
        {"accuracy": 0.5, "yes_no": 1.0, "number": 0.0}
    )
    assert scores.breakdown["count=2"] == {"accuracy": 0.5, "iid": 1.0, "weather": 0.0}
    assert scores.breakdown["count=0"] == {"accuracy": 1.0, "iid": 1.0}
