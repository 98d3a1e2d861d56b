"""Every metric declares which way is better; tables sort and comparisons mark by it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sbt_bench.analysis.baseline import (
    REGRESSION_MARK,
    SIGNIFICANT_MARK,
    CellDifference,
    compare_to_base,
    difference_mark,
    load_entries,
)
from sbt_bench.analysis.leaderboard import LeaderboardSpec, build_table, load_leaderboard_spec
from sbt_bench.metrics.directions import (
    METRIC_DIRECTIONS,
    MetricDirections,
    declare_metrics,
    declaring_into,
    judge_difference,
)
from sbt_bench.metrics.intervals import Estimate
from sbt_bench.metrics.paired import PairedComparison
from sbt_bench.results.schema import ModelIdentity, RunResults, TaskResult
from sbt_bench.tasks import TASKS, build_task
from sbt_bench.tasks.directions import metric_direction
from tests.cli_runner import run_cli
from tests.vision_data import link_question_files

N_ITEMS = 300  # 50 POPE images x 6 questions: enough clusters for a clear difference


class TestDeclarations:
    @pytest.mark.parametrize("name", TASKS.names())
    def test_every_task_metric_declares_a_direction(self, name: str) -> None:
        """Each metric every task reports has a declared direction (True, False or None)."""
        for protocol in ("loglikelihood", "letters"):
            task = build_task(TASKS.get(name), mc_protocol=protocol)
            for metric in task.metric_names():
                assert task.higher_is_better(metric) in (True, False, None), metric

    def test_known_directions(self) -> None:
        """Accuracy rises, the CIDEr drop falls, the yes ratio has no better end."""
        assert metric_direction("truthfulqa_mc2", "acc") is True
        assert metric_direction("ethics", "acc_item_weighted") is True
        assert metric_direction("pope_random", "yes_ratio") is None
        assert metric_direction("pope_random", "unparseable") is False
        assert metric_direction("coco_c", "CIDEr_drop") is False
        assert metric_direction("coco_caption", "CIDEr") is True

    def test_a_name_declared_two_ways_is_an_error(self) -> None:
        """Declaring a name again with another direction fails at registration."""
        directions = MetricDirections()
        directions.declare({"acc": True, "yes_ratio": None})
        directions.declare({"acc": True})  # the same meaning again is fine
        with pytest.raises(ValueError, match="'yes_ratio' is declared both"):
            directions.declare({"yes_ratio": True})


class TestJudging:
    def test_direction_turns_a_significant_difference_into_a_verdict(self) -> None:
        """A drop in accuracy and a rise in the CIDEr drop are worse; undirected is neither."""
        assert judge_difference(0.1, higher_is_better=True, significant=True) == "better"
        assert judge_difference(-0.1, higher_is_better=True, significant=True) == "worse"
        assert judge_difference(5.0, higher_is_better=False, significant=True) == "worse"
        assert judge_difference(-5.0, higher_is_better=False, significant=True) == "better"
        assert judge_difference(0.3, higher_is_better=None, significant=True) is None
        assert judge_difference(0.3, higher_is_better=True, significant=False) is None

    def test_a_rise_in_the_cider_drop_is_marked_as_a_regression(self) -> None:
        """coco_c's CIDEr drop, lower is better: a significant rise gets the regression mark."""
        rise = paired("CIDEr_drop", difference=6.0, p_holm=0.001)
        cell = CellDifference("MSCOCO-C drop", 6.0, rise, higher_is_better=False)
        assert cell.verdict == "worse"
        assert difference_mark(cell) == REGRESSION_MARK
        fall = CellDifference(
            "MSCOCO-C drop", -6.0, paired("CIDEr_drop", -6.0, 0.001), higher_is_better=False
        )
        assert difference_mark(fall) == SIGNIFICANT_MARK


class TestOverlays:
    def test_an_overlay_answers_with_its_parent_and_keeps_its_own(self) -> None:
        """A run's directions see the bundled ones; what the run declares never reaches them."""
        bundled = MetricDirections()
        bundled.declare({"acc": True})
        run = bundled.overlay()
        run.declare({"mark": False})
        assert (run.get("acc"), run.get("mark")) == (True, False)
        assert "mark" not in bundled
        bundled.declare({"late": None})  # declared after the overlay (a lazy import): seen
        assert "late" in run

    def test_an_overlay_refuses_to_turn_a_parent_metric_around(self) -> None:
        """A user metric cannot give a bundled name the other direction within a run."""
        bundled = MetricDirections()
        bundled.declare({"acc": True})
        with pytest.raises(ValueError, match="'acc' is declared both"):
            bundled.overlay().declare({"acc": False})

    def test_two_overlays_may_declare_a_name_opposite_ways(self) -> None:
        """Two runs' user metrics of one name are each their run's, with no clash."""
        bundled = MetricDirections()
        first, second = bundled.overlay(), bundled.overlay()
        first.declare({"mark": True})
        second.declare({"mark": False})
        assert (first.get("mark"), second.get("mark")) == (True, False)

    def test_declare_metrics_goes_where_it_is_directed_and_only_there(self) -> None:
        """Within `declaring_into`, `declare_metrics` fills the given directions alone."""
        run = MetricDirections()
        with declaring_into(run):
            assert declare_metrics({"only_in_this_run": False}) == ("only_in_this_run",)
        assert run.get("only_in_this_run") is False
        assert "only_in_this_run" not in METRIC_DIRECTIONS


class TestLeaderboardOrder:
    def test_lower_is_better_sorts_smallest_first(self, tmp_path: Path) -> None:
        """A table sorted by the CIDEr drop puts the smallest drop on top; yes_ratio keeps order."""
        runs = [run_of("fragile", 30.0, 0.9), run_of("robust", 5.0, 0.5), run_of("mid", 12.0, 0.6)]
        spec = write_spec(tmp_path, "CIDEr drop")
        assert [name for name, _ in build_table(runs, spec).rows] == ["robust", "mid", "fragile"]
        by_ratio = write_spec(tmp_path, "yes ratio")
        assert [n for n, _ in build_table(runs, by_ratio).rows] == ["fragile", "robust", "mid"]

    def test_a_user_metric_sorts_by_the_direction_its_results_record(self, tmp_path: Path) -> None:
        """A task this process never defined sorts by the direction its results.json records."""

        def runs(recorded: dict[str, bool | None]) -> list[RunResults]:
            return [
                RunResults(
                    model=ModelIdentity(name=name),
                    tasks={"my_marked": TaskResult(metrics={"mark": mark}, directions=recorded)},
                )
                for name, mark in [("a", 0.5), ("b", 0.1), ("c", 0.9)]
            ]

        path = tmp_path / "marked.yaml"
        path.write_text(
            "name: m\ndescription: m\nsort_by: mark\ncolumns:\n"
            "  - {label: mark, task: my_marked, metric: mark}\n",
            encoding="utf-8",
        )
        spec = load_leaderboard_spec(str(path))
        assert [n for n, _ in build_table(runs({"mark": False}), spec).rows] == ["b", "a", "c"]
        assert [n for n, _ in build_table(runs({"mark": True}), spec).rows] == ["c", "a", "b"]
        # An older file records none, and this process declares no `mark`: the order given.
        assert [n for n, _ in build_table(runs({}), spec).rows] == ["a", "b", "c"]


class TestBaseMarks:
    def test_base_stars_no_yes_ratio_rise_and_marks_the_accuracy_drop(
        self, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`--base` marks an always-yes model's accuracy drop, not its yes-ratio rise.

        `compare` says the same in its JSON rows.
        """
        out = score_pope_pair(data_dir, tmp_path)
        spec = tmp_path / "pope.yaml"
        spec.write_text(
            "name: pope\ndescription: POPE\nsort_by: accuracy\ncolumns:\n"
            "  - {label: accuracy, task: pope_random, metric: accuracy}\n"
            "  - {label: yes ratio, task: pope_random, metric: yes_ratio}\n",
            encoding="utf-8",
        )
        entries = load_entries([str(out)])
        base = next(e.model for e in entries if e.path.name == "predictions__careful")
        comparison = compare_to_base(entries, load_leaderboard_spec(str(spec)), base)
        ((_, (accuracy, yes_ratio)),) = comparison.rows
        assert accuracy.significant and accuracy.verdict == "worse"
        assert yes_ratio.significant and (yes_ratio.raw or 0) > 0.3
        assert yes_ratio.verdict is None

        assert run_cli("leaderboard", str(out), "--spec", str(spec), "--base", base) == 0
        table = capsys.readouterr().out.splitlines()
        row = next(line for line in table if "yes_sayer" in line and line.startswith("|"))
        accuracy_cell, yes_ratio_cell = (cell.strip() for cell in row.strip("|").split("|")[1:])
        assert accuracy_cell.startswith("-") and REGRESSION_MARK in accuracy_cell
        assert SIGNIFICANT_MARK not in yes_ratio_cell and REGRESSION_MARK not in yes_ratio_cell

        others = [str(out / "predictions__careful"), str(out / "predictions__yes_sayer")]
        flips = str(tmp_path / "flips")
        args = ("--format", "json", "--resamples", "300", "--flips-dir", flips)
        assert run_cli("compare", *others, *args) == 0
        (doc,) = json.loads(capsys.readouterr().out)
        rows = {row["metric"]: row for row in doc["rows"]}
        assert rows["accuracy"]["verdict"] == "worse"
        assert rows["yes_ratio"]["higher_is_better"] is None
        assert rows["yes_ratio"]["p_holm"] < 0.05 and rows["yes_ratio"]["verdict"] is None


def paired(metric: str, difference: float, p_holm: float) -> PairedComparison:
    """A paired comparison with the given difference and Holm p (other fields plausible)."""
    estimate = Estimate(10.0, 1.0, 8.0, 12.0, 100)
    return PairedComparison(
        metric, estimate, estimate, difference, 1.0, difference - 2, difference + 2,
        p_holm, p_holm, 2.8, 100, "paired-bootstrap",
    )  # fmt: skip


def run_of(name: str, drop: float, yes_ratio: float) -> RunResults:
    """A results document with one coco_c CIDEr drop and one POPE yes ratio."""
    return RunResults(
        model=ModelIdentity(name=name),
        tasks={
            "coco_c": TaskResult(metrics={"CIDEr_drop": drop}),
            "pope_random": TaskResult(metrics={"yes_ratio": yes_ratio}),
        },
    )


def write_spec(folder: Path, sort_by: str) -> LeaderboardSpec:
    """A two-column leaderboard spec sorted by `sort_by`."""
    path = folder / f"{sort_by.replace(' ', '_')}.yaml"
    path.write_text(
        f"name: t\ndescription: t\nsort_by: {sort_by}\ncolumns:\n"
        "  - {label: CIDEr drop, task: coco_c, metric: CIDEr_drop}\n"
        "  - {label: yes ratio, task: pope_random, metric: yes_ratio}\n",
        encoding="utf-8",
    )
    return load_leaderboard_spec(str(path))


def score_pope_pair(data_dir: Path, tmp_path: Path) -> Path:
    """POPE random scored for a careful model (90% right) and one that always says yes."""
    data = link_question_files(data_dir, tmp_path / "data")
    lines = (data_dir / "pope" / "coco_pope_random.json").read_text().splitlines()[:N_ITEMS]
    rng = np.random.default_rng(0)
    out = tmp_path / "out"
    for name in ("careful", "yes_sayer"):
        rows = []
        for line in lines:
            item = json.loads(line)
            right = rng.random() < 0.9  # the careful model's accuracy
            answer = item["label"] if right else {"yes": "no", "no": "yes"}[item["label"]]
            text = "Yes" if name == "yes_sayer" else answer.title()
            rows.append(json.dumps({"question_id": item["question_id"], "text": text}))
        answers = tmp_path / f"{name}.jsonl"
        answers.write_text("\n".join(rows) + "\n")
        args = ("--predictions", str(answers), "--data-dir", str(data), "--output-dir", str(out))
        named = ("--name", f"predictions__{name}")  # score names folders after the model
        assert run_cli("score", "pope_random", *args, "--limit", str(N_ITEMS), *named) == 0
    return out
