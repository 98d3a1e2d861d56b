"""Error bars in results.json and `sbt-bench compare` on real POPE question files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from sbt_bench.core.types import ItemResult, Sample
from sbt_bench.results.group_means import aggregate_groups
from sbt_bench.results.schema import TaskResult
from sbt_bench.tasks import TASKS, GroupSpec, build_task
from sbt_bench.tasks.aggregators import binary_classification, mme_scores
from sbt_bench.tasks.error_bars import task_estimates
from sbt_bench.tasks.source import load_records
from tests.cli_runner import run_cli
from tests.vision_data import link_question_files

LIMIT = 60  # 10 POPE images x 6 questions


def pope_answers(data_dir: Path, path: Path, accuracy: float, seed: int) -> Path:
    """A POPE answer file right about `accuracy` of the time, seeded."""
    rng = np.random.default_rng(seed)
    lines = (data_dir / "pope" / "coco_pope_random.json").read_text().splitlines()[:LIMIT]
    rows = []
    for line in lines:
        item = json.loads(line)
        right = rng.random() < accuracy
        answer = item["label"] if right else {"yes": "no", "no": "yes"}[item["label"]]
        rows.append(json.dumps({"question_id": item["question_id"], "text": answer.title()}))
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture
def two_runs(data_dir: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    """Folders of two answer sets scored on POPE random's first 60 items, and the data dir."""
    data = link_question_files(data_dir, tmp_path / "data")
    out = tmp_path / "out"
    for name, accuracy, seed in (("base", 0.6, 0), ("other", 0.9, 1)):
        answers = pope_answers(data_dir, tmp_path / f"{name}.jsonl", accuracy, seed)
        args = ("--predictions", str(answers), "--data-dir", str(data), "--output-dir", str(out))
        assert run_cli("score", "pope_random", *args, "--limit", str(LIMIT), "--name", name) == 0
    return out / "base", out / "other", data


def test_every_pope_metric_gets_a_clustered_bootstrap_error_bar(
    two_runs: tuple[Path, Path, Path],
) -> None:
    """F1, precision, recall, yes-ratio: an SE and a CI from resampled images; the count: a note."""
    base, _, _ = two_runs
    entry = json.loads((base / "results.json").read_text())["tasks"]["pope_random"]
    for metric in ("accuracy", "precision", "recall", "f1", "yes_ratio"):
        low, high = entry["ci95"][metric]
        assert low <= entry["metrics"][metric] <= high
        assert entry["stderr"][metric] > 0
        assert entry["stderr_method"][metric] == "bootstrap"
    assert entry["n_clusters"] == LIMIT // 6
    assert entry["stderr"]["unparseable"] is None
    assert "no error bar" in entry["notes"]["stderr:unparseable"]
    samples = (base / "samples_pope_random.jsonl").read_text().splitlines()
    assert json.loads(samples[0])["cluster"].endswith("COCO_val2014_000000310196.jpg")


def test_compare_prints_paired_rows_and_writes_flips(
    two_runs: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each POPE metric gets a row (difference, CI, Holm p, MDE, n); flips hold both answers."""
    base, other, _ = two_runs
    flips = tmp_path / "flips"
    args = ("compare", str(base), str(other), "--flips-dir", str(flips), "--resamples", "500")
    assert run_cli(*args, "--format", "json") == 0
    (doc,) = json.loads(capsys.readouterr().out)
    rows = {row["metric"]: row for row in doc["rows"]}
    assert set(rows) == {"accuracy", "precision", "recall", "f1", "yes_ratio"}
    acc = rows["accuracy"]
    assert acc["difference"] == pytest.approx(acc["other"] - acc["base"])
    assert acc["difference_ci"][0] <= acc["difference"] <= acc["difference_ci"][1]
    assert acc["n_paired"] == LIMIT
    assert acc["n_clusters"] == LIMIT // 6
    assert all(row["p_holm"] >= row["p_value"] for row in rows.values())
    (flip_file,) = (flips / "base__vs__other").glob("*.jsonl")
    records = [json.loads(line) for line in flip_file.read_text().splitlines()]
    assert flip_file.name == "flips_pope_random.jsonl"
    assert {r["direction"] for r in records} <= {"wrong->right", "right->wrong"}
    ups = sum(r["direction"] == "wrong->right" for r in records)
    assert ups - (len(records) - ups) == round(acc["difference"] * LIMIT)
    assert records[0]["prompt"] and records[0]["base_answer"] != records[0]["other_answer"]


def test_compare_markdown_names_each_column(
    two_runs: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The md table has both means with CIs, the difference, p (Holm), MDE and n paired."""
    base, other, _ = two_runs
    flips = str(tmp_path / "f")
    assert (
        run_cli("compare", str(base), str(other), "--flips-dir", flips, "--resamples", "200") == 0
    )
    out = capsys.readouterr().out
    assert "| p (Holm) | MDE | n paired |" in out
    assert "| pope_random | f1 |" in out
    assert "60 (10 clusters)" in out


def test_compare_refuses_runs_with_a_different_limit(
    two_runs: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Runs over different --limit: one line naming the folder and the field, exit 2."""
    base, _, data = two_runs
    out = tmp_path / "short"
    answers = str(tmp_path / "other.jsonl")
    args = ("--predictions", answers, "--data-dir", str(data), "--output-dir", str(out))
    assert run_cli("score", "pope_random", *args, "--limit", "30", "--name", "other") == 0
    capsys.readouterr()
    assert run_cli("compare", str(base), str(out / "other")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert str(out / "other") in err[0]
    assert "tasks.pope_random.limit" in err[0]


def test_compare_refuses_a_folder_without_results_and_runs_of_other_tasks(
    two_runs: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No results.json, or the task missing from OTHER: one line each, exit 2."""
    base, _, data = two_runs
    assert run_cli("compare", str(base), str(tmp_path)) == 2
    assert "no results.json" in capsys.readouterr().err
    out = tmp_path / "popular"
    answers = str(tmp_path / "base.jsonl")
    args = ("--predictions", answers, "--data-dir", str(data), "--output-dir", str(out))
    assert run_cli("score", "pope_popular", *args, "--limit", str(LIMIT), "--name", "base") == 0
    capsys.readouterr()
    assert run_cli("compare", str(base), str(out / "base")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "tasks.pope_random" in err[0]


def yes_no_item(index: int, image: str, gold: str, answer: str, subset: str = "") -> ItemResult:
    sample = Sample(str(index), "q", references=(gold,), subset=subset, pair=image, cluster=image)
    scores = {"correct": float(gold == answer), "pred_yes": float(answer == "yes"), "parsed": 1.0}
    return ItemResult(sample=sample, prediction=answer, scores=scores)


def hand_items() -> list[ItemResult]:
    rng = np.random.default_rng(0)
    items = []
    for i in range(80):
        gold = "yes" if i % 2 == 0 else "no"
        answer = gold if rng.random() < 0.7 else ("no" if gold == "yes" else "yes")
        items.append(
            yes_no_item(i, f"img{i // 2}", gold, answer, ("existence", "count")[i % 4 // 2])
        )
    return items


def test_bootstrap_values_are_the_aggregators_numbers() -> None:
    """The corpus columns reproduce the binary and MME aggregators' numbers exactly."""
    items = hand_items()
    binary, _ = task_estimates("binary", items, (), resamples=200)
    assert {m: e.value for m, e in binary.items()} == pytest.approx(
        {k: v for k, v in binary_classification(items, ()).metrics.items() if k != "unparseable"}
    )
    mme, _ = task_estimates("mme", items, (), resamples=200)
    assert {m: e.value for m, e in mme.items()} == pytest.approx(mme_scores(items, ()).metrics)
    # Only perception subtasks are present: cognition is 0 in every resample.
    assert mme["cognition"].stderr == 0
    assert all(mme[m].stderr > 0 and mme[m].n_clusters == 40 for m in ("perception", "total"))


def test_groups_report_the_unweighted_and_the_item_weighted_mean() -> None:
    """ETHICS-like group of subsets of 100 and 300 items: both means, each with an SE, labelled."""
    tasks = {
        "a": TaskResult(metrics={"acc": 0.4}, stderr={"acc": 0.05}, n_samples=100),
        "b": TaskResult(metrics={"acc": 0.8}, stderr={"acc": 0.02}, n_samples=300),
    }
    group = GroupSpec(group="g", description="", tasks=("a", "b"), mean_of="acc")
    entry = aggregate_groups(tasks, [group])["g"].document
    assert entry["metrics"] == pytest.approx({"acc": 0.6, "acc_item_weighted": 0.7})
    assert entry["stderr"]["acc"] == pytest.approx(math.hypot(0.05, 0.02) / 2)
    assert entry["stderr"]["acc_item_weighted"] == pytest.approx(math.hypot(5, 6) / 400)
    assert set(entry["weighting"]) == {"acc", "acc_item_weighted"}


def test_pope_samples_cluster_on_their_image_file(data_dir: Path) -> None:
    """`cluster_by: image` makes the located image file each POPE question's cluster."""
    spec = TASKS.get("pope_random")
    assert spec.cluster_by == "image"
    records = load_records("pope_random", spec.dataset, data_dir)[:7]
    task = build_task(spec)
    clusters = [task.build_samples(i, r, data_dir)[0].cluster for i, r in enumerate(records)]
    assert len(set(clusters[:6])) == 1
    assert clusters[6] != clusters[0]
    assert clusters[0].endswith("coco/val2014/COCO_val2014_000000310196.jpg")


def test_no_printed_interval_leaves_the_metrics_range(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A perfect and a 90% run on 12 items: every CI in results.json and in compare is in range."""
    data = link_question_files(data_dir, tmp_path / "data")
    out = tmp_path / "out"
    for name, accuracy in (("base", 0.9), ("other", 1.0)):
        answers = pope_answers(data_dir, tmp_path / f"{name}.jsonl", accuracy, 7)
        args = ("--predictions", str(answers), "--data-dir", str(data), "--output-dir", str(out))
        assert run_cli("score", "pope_random", *args, "--limit", "12", "--name", name) == 0
    base, other = out / "base", out / "other"
    for folder in (base, other):
        entry = json.loads((folder / "results.json").read_text())["tasks"]["pope_random"]
        for low, high in entry["ci95"].values():
            assert 0.0 <= low <= high <= 1.0
    capsys.readouterr()
    assert run_cli("compare", str(base), str(other), "--format", "json", "--resamples", "300") == 0
    (doc,) = json.loads(capsys.readouterr().out)
    for row in (r for r in doc["rows"] if "metric" in r):
        assert all(0.0 <= x <= 1.0 for x in (*row["base_ci"], *row["other_ci"]))
        assert -1.0 <= row["difference_ci"][0] <= row["difference_ci"][1] <= 1.0
