"""Numbers that would be meaningless are refused or counted, and answers match by item."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_runner import results_of, run_cli


@pytest.mark.parametrize(
    ("parser", "unparseable", "yes_ratio"), [("default", 2, 1 / 4), ("official", 0, 3 / 4)]
)
def test_wordless_pope_answers_are_unparseable_by_default(
    data_dir: Path, tmp_path: Path, parser: str, unparseable: int, yes_ratio: float
) -> None:
    """Empty and wordless POPE answers are counted as unparseable, outside TP/FP/TN/FN."""
    replies = ["Yes", "", "No", "..."]  # golds of POPE random 1-4: yes, no, yes, no
    answers = tmp_path / "answers.jsonl"
    answers.write_text(
        "".join(json.dumps({"question_id": i, "text": r}) + "\n" for i, r in enumerate(replies, 1)),
        encoding="utf-8",
    )
    out = tmp_path / "out"
    args = ["--data-dir", str(data_dir), "--output-dir", str(out), "--limit", "4"]
    status = run_cli(
        "score", "pope_random", "--predictions", str(answers), *args, "--parser", parser
    )
    assert status == 0
    metrics = results_of(out)["tasks"]["pope_random"]["metrics"]
    assert metrics["unparseable"] == unparseable
    assert metrics["yes_ratio"] == pytest.approx(yes_ratio)
    # Default: one TP ("Yes" on yes) and one FN ("No" on yes) are all the matrix holds.
    if parser == "default":
        assert metrics["accuracy"] == pytest.approx(1 / 2)
        assert metrics["precision"] == pytest.approx(1.0)


def test_unicorn_answers_cover_repeated_questions(data_dir: Path, tmp_path: Path) -> None:
    """sbt-style answers in any order score all of OODCV-VQA, its 14 repeated pairs included."""
    questions = json.loads(
        (data_dir / "unicorn" / "oodcv-vqa" / "oodcv-vqa.json").read_text(encoding="utf-8")
    )
    answers = tmp_path / "answers.json"
    rows = [
        {"image": q["image"], "question": q["question"], "prediction": q["text_answer"]}
        for q in reversed(questions)
    ]
    answers.write_text(json.dumps(rows), encoding="utf-8")
    out = tmp_path / "out"
    status = run_cli(
        "score",
        "unicorn_oodcv",
        "--predictions",
        str(answers),
        "--data-dir",
        str(data_dir),
        "--output-dir",
        str(out),
    )
    assert status == 0
    assert results_of(out)["tasks"]["unicorn_oodcv"]["n_samples"] == len(questions) == 4244


def test_a_repeated_pair_answered_once_too_often_is_refused(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A third answer to a pair two items ask is a second answer, not silently dropped."""
    questions = json.loads(
        (data_dir / "unicorn" / "oodcv-vqa" / "oodcv-vqa.json").read_text(encoding="utf-8")
    )
    pairs = [(q["image"], q["question"]) for q in questions]
    repeated = next(p for p in pairs if pairs.count(p) == 2)
    rows = [{"image": repeated[0], "question": repeated[1], "prediction": "2"}] * 3
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps(rows), encoding="utf-8")
    status = run_cli(
        "score",
        "unicorn_oodcv",
        "--predictions",
        str(answers),
        "--data-dir",
        str(data_dir),
        "--output-dir",
        str(tmp_path / "out"),
    )
    assert status == 2
    assert "answers.json:2: a second answer" in capsys.readouterr().err
