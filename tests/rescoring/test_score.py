"""`sbt-bench score` reproduces the official MME and POPE scripts on recorded answer files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_runner import results_of, run_cli
from tests.vision_data import link_question_files

MME_REPLIES = {
    # golds: Yes No | Yes No | Yes No
    "existence": ["Yes", "No", "Yes, there is.", "There is no giraffe.", "**Yes**", "no"],
    # golds: Yes No | Yes No
    "count": ["yes", "no", "No", "no"],
}


def score(*args: str) -> int:
    return run_cli("score", *args)


@pytest.fixture
def mme_data(data_dir: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A data dir whose MME files hold the first questions of two subtasks, and the answers."""
    questions = tmp_path / "data" / "mme" / "Your_Results"
    answers = tmp_path / "answers"
    questions.mkdir(parents=True)
    answers.mkdir()
    for source in (data_dir / "mme" / "Your_Results").glob("*.txt"):
        replies = MME_REPLIES.get(source.stem, [])
        lines = source.read_text(encoding="utf-8").splitlines()[: len(replies)]
        (questions / source.name).write_text("".join(f"{q}\n" for q in lines), encoding="utf-8")
        rows = [f"{q}\t{a}\n" for q, a in zip(lines, replies, strict=True)]
        (answers / source.name).write_text("".join(rows), encoding="utf-8")
    return tmp_path / "data", answers


@pytest.mark.parametrize(
    ("parser", "existence", "perception"),
    # official: 4/6 right, 1/3 images -> 66.7 + 33.3; default also reads "**Yes**": 5/6, 2/3
    [("official", 100.0, 225.0), ("default", 150.0, 275.0)],
)
def test_mme_scores_match_the_eval_tool(
    mme_data: tuple[Path, Path], tmp_path: Path, parser: str, existence: float, perception: float
) -> None:
    """Per-subtask acc + acc+ and the perception/cognition sums as calculation.py defines them."""
    data, answers = mme_data
    out = tmp_path / "out"
    args = ["mme", "--predictions", str(answers), "--data-dir", str(data), "--output-dir", str(out)]
    assert score(*args, "--parser", parser) == 0
    task = results_of(out)["tasks"]["mme"]
    assert task["breakdown"]["existence"]["score"] == pytest.approx(existence)
    count = {"acc": 75.0, "acc_plus": 50.0, "score": 125.0}
    assert task["breakdown"]["count"] == pytest.approx(count)
    assert task["metrics"] == pytest.approx(
        {"perception": perception, "cognition": 0.0, "total": perception}
    )
    assert task["parser"] == parser


POPE_REPLIES = [
    "Yes, there is a snowboard.",
    "NO",
    "No.",
    "There is not a sandwich.",
    "yes",
    "Yes. No couch.",
]


@pytest.mark.parametrize(
    ("parser", "expected"),
    [
        # official: "NO" is yes -> TP 2, FP 2, TN 1, FN 1
        ("official", {"accuracy": 0.5, "precision": 0.5, "recall": 2 / 3, "f1": 4 / 7,
                      "yes_ratio": 4 / 6, "unparseable": 0.0}),
        # default: "NO" is no -> TP 2, FP 1, TN 2, FN 1
        ("default", {"accuracy": 4 / 6, "precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3,
                     "yes_ratio": 3 / 6, "unparseable": 0.0}),
    ],
)  # fmt: skip
@pytest.mark.parametrize("answer_format", ["pope", "llava"])
def test_pope_scores_match_the_original_script(
    data_dir: Path, tmp_path: Path, parser: str, expected: dict[str, float], answer_format: str
) -> None:
    """Accuracy, precision, recall, F1 and yes-ratio from predictions, in both answer formats."""
    labels = (data_dir / "pope" / "coco_pope_random.json").read_text().splitlines()[:6]
    rows = []
    for label, reply in zip(labels, POPE_REPLIES, strict=True):
        item = json.loads(label)
        row = (
            {"question": item["text"], "answer": reply}
            if answer_format == "pope"
            else {"question_id": item["question_id"], "text": reply}
        )
        rows.append(json.dumps(row))
    answers = tmp_path / "answers.jsonl"
    answers.write_text("\n".join(rows) + "\n")
    data = link_question_files(data_dir, tmp_path / "data")
    out = tmp_path / "out"
    args = ["pope_random", "--predictions", str(answers), "--data-dir", str(data)]
    assert score(*args, "--output-dir", str(out), "--limit", "6", "--parser", parser) == 0
    metrics = results_of(out)["tasks"]["pope_random"]["metrics"]
    assert metrics == pytest.approx(expected)


def test_unanswered_items_are_an_error_not_a_smaller_denominator(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Answers for 2 of 6 items: one line naming the file and the count, exit status 2."""
    labels = (data_dir / "pope" / "coco_pope_random.json").read_text().splitlines()[:2]
    answers = tmp_path / "answers.jsonl"
    answers.write_text(
        "".join(json.dumps({"question_id": json.loads(x)["question_id"], "text": "yes"}) + "\n"
                for x in labels)
    )  # fmt: skip
    data = link_question_files(data_dir, tmp_path / "data")
    args = ["--predictions", str(answers), "--data-dir", str(data), "--limit", "6"]
    code = score("pope_random", *args)
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "4 of 6 pope_random items have no answer" in err[0]


def test_coco_results_file_is_scored_with_pycocoevalcap(data_dir: Path, tmp_path: Path) -> None:
    """Captions equal to a reference give BLEU-1..4 of 100 through `score` on COCO results."""
    images = json.loads((data_dir / "coco_karpathy" / "coco_test.json").read_text())[:3]
    results = [
        {
            "image_id": int(item["image"].rsplit("_", 1)[1].split(".")[0]),
            "caption": item["caption"][0],
        }
        for item in images
    ]
    predictions = tmp_path / "captions_results.json"
    predictions.write_text(json.dumps(results))
    data = link_question_files(data_dir, tmp_path / "data")
    out = tmp_path / "out"
    args = ["--predictions", str(predictions), "--data-dir", str(data), "--limit", "3"]
    assert score("coco_caption", *args, "--output-dir", str(out)) == 0
    metrics = results_of(out)["tasks"]["coco_caption"]
    for n in range(1, 5):
        assert metrics["metrics"][f"BLEU_{n}"] == pytest.approx(100.0, abs=1e-6)


def test_mme_breakdown_carries_clustered_error_bars(
    mme_data: tuple[Path, Path], tmp_path: Path
) -> None:
    """results.json: each subtask's acc, acc+ and score with a CI in range and its method."""
    data, answers = mme_data
    out = tmp_path / "out"
    args = ["mme", "--predictions", str(answers), "--data-dir", str(data), "--output-dir", str(out)]
    assert score(*args) == 0
    task = results_of(out)["tasks"]["mme"]
    for subtask in ("existence", "count"):
        ci = task["breakdown_ci95"][subtask]
        assert set(ci) == {"acc", "acc_plus", "score"}
        for metric, (low, high) in ci.items():
            top = 200.0 if metric == "score" else 100.0
            assert 0.0 <= low <= task["breakdown"][subtask][metric] <= high <= top
    assert task["breakdown_ci_method"]["count"]["acc"] == "wilson-design-effect"


def test_leaderboard_breakdown_ci_shows_each_subtasks_interval(
    mme_data: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`leaderboard --breakdown --ci`: MME subtasks with acc, acc_plus, score as value [lo, hi]."""
    data, answers = mme_data
    out = tmp_path / "out"
    args = ["mme", "--predictions", str(answers), "--data-dir", str(data), "--output-dir", str(out)]
    assert score(*args) == 0
    task = results_of(out)["tasks"]["mme"]
    capsys.readouterr()
    board = ("leaderboard", str(out), "--spec", "sbt_vision", "--breakdown", "--ci")
    assert run_cli(*board) == 0
    text = capsys.readouterr().out
    assert "### MME perception (mme): breakdown" in text
    assert "| model | part | acc | acc_plus | score |" in text
    low, high = task["breakdown_ci95"]["count"]["acc_plus"]
    value = task["breakdown"]["count"]["acc_plus"]
    assert f"{value:.4f} [{low:.4f}, {high:.4f}]" in text


def test_compare_pairs_mme_subtasks_with_intervals(
    mme_data: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`compare` on two MME runs: per-subtask acc, acc+ and score rows with paired CIs."""
    data, answers = mme_data
    always_yes = tmp_path / "always_yes"
    always_yes.mkdir()
    for path in answers.glob("*.txt"):
        rows = [line.rsplit("\t", 1)[0] + "\tYes\n" for line in path.read_text().splitlines()]
        (always_yes / path.name).write_text("".join(rows), encoding="utf-8")
    folders = []
    for answer_dir in (answers, always_yes):
        out = tmp_path / f"out_{answer_dir.name}"
        args = ["mme", "--predictions", str(answer_dir), "--data-dir", str(data)]
        assert score(*args, "--output-dir", str(out)) == 0
        (folder,) = out.glob("*/results.json")
        folders.append(str(folder.parent))
    capsys.readouterr()
    pair = (*folders, "--flips-dir", str(tmp_path / "f"))
    assert run_cli("compare", *pair, "--format", "json", "--resamples", "200") == 0
    (doc,) = json.loads(capsys.readouterr().out)
    rows = {(r["part"], r["metric"]): r for r in doc["breakdown"]}
    assert set(rows) >= {("existence", "acc"), ("existence", "acc_plus"), ("count", "score")}
    acc = rows[("count", "acc")]
    assert acc["difference"] == pytest.approx(acc["other"] - acc["base"])
    for r in rows.values():
        span = 200.0 if r["metric"] == "score" else 100.0
        assert -span <= r["difference_ci"][0] <= r["difference"] <= r["difference_ci"][1] <= span
    assert run_cli("compare", *pair, "--resamples", "200") == 0
    assert "| mme | existence | acc_plus |" in capsys.readouterr().out
