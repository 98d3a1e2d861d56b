"""`sbt-bench export --format eee`: Every Eval Ever records of a run, checked by its validator."""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest

from sbt_bench.results.records import read_samples
from tests.cli_runner import run_cli
from tests.needs import need
from tests.vision_data import link_question_files, write_images

need(
    importlib.util.find_spec("every_eval_ever") is not None,
    "the every-eval-ever package (.ci/run installs it: the `export` extra)",
    module_level=True,
)
from every_eval_ever.validator import validation_core as validation  # noqa: E402

TASKS = "truthfulqa_mc1,truthfulqa_mc2,truthfulqa_gen,ethics,pope_random"
LIMIT = 2


@pytest.fixture(scope="module")
def two_runs(tiny_llava: Path, data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An output dir: the tiny LLaVA on TruthfulQA mc and gen, ETHICS and POPE, and a copy.

    The copy (another model name, same items and answers) is the base of the paired rows.
    """
    root = tmp_path_factory.mktemp("eee")
    data = link_question_files(data_dir, root / "data")
    (data / "ethics").symlink_to(data_dir / "ethics")
    write_images(data, data_dir, ["pope_random"], LIMIT)
    out = root / "out"
    args = ("run", "--tasks", TASKS, "--models", f"llava:{tiny_llava}", "--limit", str(LIMIT))
    assert run_cli(*args, "--data-dir", str(data), "--output-dir", str(out)) == 0
    (folder,) = out.glob("*/results.json")
    copy = out / "base-copy"
    shutil.copytree(folder.parent, copy)
    doc = json.loads((copy / "results.json").read_text())
    doc["model"]["name"] = "base-copy"
    (copy / "results.json").write_text(json.dumps(doc))
    return out


def exported(out: Path, target: Path) -> list[dict[str, Any]]:
    """Run the export (base: the copy) and read every aggregate record back."""
    assert (
        run_cli(
            "export", str(out), "--format", "eee", "--output", str(target), "--base", "base-copy"
        )
        == 0
    )
    return [json.loads(p.read_text()) for p in sorted(target.glob("data/*/*/*/*.json"))]


def test_every_file_passes_every_eval_evers_own_validator(two_runs: Path, tmp_path: Path) -> None:
    """Each aggregate and samples file validates, semantic checks (paths, companions) included."""
    records = exported(two_runs, tmp_path)
    assert {r["evaluation_results"][0]["evaluation_name"].split("_")[0] for r in records} == {
        "truthfulqa", "ethics", "pope",
    }  # fmt: skip
    files = sorted(tmp_path.glob("data/*/*/*/*"))
    available = frozenset(p.relative_to(tmp_path).as_posix() for p in files)
    for path in files:
        report = validation.validate_file(
            path,
            repo_path=path.relative_to(tmp_path).as_posix(),
            available_files=available,
            read_repo_file=lambda rel: (tmp_path / rel).read_text(),
            run_semantic_checks=True,
        )
        assert report.valid, (path, report.errors[:2])


def test_instance_lines_are_the_scored_items(two_runs: Path, tmp_path: Path) -> None:
    """Per task, one line per item of samples_<task>.jsonl: same ids, prompt, answer, scores."""
    exported(two_runs, tmp_path)
    folder = next(p for p in two_runs.iterdir() if p.name != "base-copy" and p.is_dir())
    lines = [
        json.loads(line)
        for path in tmp_path.glob("data/*/local/*/*_samples.jsonl")
        for line in path.read_text().splitlines()
        if folder.name.endswith(json.loads(line)["model_id"].split("/")[-1])
    ]
    results = json.loads((folder / "results.json").read_text())
    for task in results["tasks"]:
        items = read_samples(folder / f"samples_{task}.jsonl")
        mine = [line for line in lines if line["evaluation_name"] == task]
        assert [line["sample_id"] for line in mine] == [i.sample.id for i in items]
        for line, item in zip(mine, items, strict=True):
            assert line["input"]["raw"] == item.sample.context
            assert line["output"]["raw"] == [item.generation or item.prediction]
            scores = {
                k[6:]: float(v) for k, v in line["metadata"].items() if k.startswith("score.")
            }
            assert scores == pytest.approx(dict(item.scores))


def test_read_back_finds_every_metric_and_interval(two_runs: Path, tmp_path: Path) -> None:
    """Every metric of results.json with its value, SE and 95% CI; paired rows against the base."""
    records = exported(two_runs, tmp_path)
    folder = next(p for p in two_runs.iterdir() if p.name != "base-copy" and p.is_dir())
    results = json.loads((folder / "results.json").read_text())
    name = results["model"]["name"]
    found = {
        r["evaluation_result_id"]: r for rec in records if rec["model_info"]["name"] == name
        for r in rec["evaluation_results"]
    }  # fmt: skip
    for task, entry in results["tasks"].items():
        for metric, value in entry["metrics"].items():
            if value is None:
                continue
            result = found[f"{task}/{metric}"]
            assert result["score_details"]["score"] == value
            uncertainty = result["score_details"]["uncertainty"]
            stderr = entry["stderr"].get(metric)
            if stderr is not None and math.isfinite(stderr):
                assert uncertainty["standard_error"]["value"] == stderr
            if (ci := entry.get("ci95", {}).get(metric)) and None not in ci:
                interval = uncertainty["confidence_interval"]
                assert [interval["lower"], interval["upper"]] == ci
                assert interval["method"] == entry["ci_method"][metric]
            details = result["score_details"]["details"]
            if metric != "unparseable":
                assert details["paired_difference"] == "0.0"
    gen = found["truthfulqa_gen/bleu_acc"]
    assert gen["generation_config"]["generation_args"]["max_tokens"] > 0
    assert "prompt.num_fewshot" in gen["generation_config"]["additional_details"]


def test_predict_only_run_is_one_line_exit_2(
    tiny_llava: Path, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run with --predict-only has no scores to export: one line naming it, exit 2."""
    data = link_question_files(data_dir, tmp_path / "data")
    write_images(data, data_dir, ["pope_random"], 1)
    out = tmp_path / "out"
    args = ("run", "--tasks", "pope_random", "--models", f"llava:{tiny_llava}", "--limit", "1")
    assert run_cli(*args, "--data-dir", str(data), "--output-dir", str(out), "--predict-only") == 0
    capsys.readouterr()
    assert run_cli("export", str(out), "--output", str(tmp_path / "eee")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "predict-only" in err[0]


def test_a_record_holding_another_export_is_kept_without_overwrite(
    two_runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exporting again writes nothing new; a record changed since is refused, then replaced."""
    exported(two_runs, tmp_path)
    first = min(tmp_path.glob("data/*/*/*/*.json"))
    first.write_text('{"edited": true}\n')
    capsys.readouterr()
    args = ("export", str(two_runs), "--output", str(tmp_path), "--base", "base-copy")
    assert run_cli(*args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert str(first) in err[0]
    assert "--overwrite" in err[0]
    assert first.read_text() == '{"edited": true}\n'
    assert run_cli(*args, "--overwrite") == 0
    assert json.loads(first.read_text()) != {"edited": True}
