"""`sbt-bench data check|fetch`: every needed file in one table, and where the rest comes from."""

from __future__ import annotations

from pathlib import Path

import pytest

from sbt_bench.tasks import TASKS
from sbt_bench.tasks.data_files import list_needed_files
from tests.cli_runner import assert_one_line_error, run_cli, sbt


def test_check_on_an_empty_folder_lists_every_missing_file_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On an empty folder one `data check` names every file of every task as missing; fails."""
    assert run_cli("data", "check", "--data-dir", str(tmp_path)) == 1
    out = capsys.readouterr().out
    expected = list_needed_files([TASKS.get(n) for n in TASKS.names()], tmp_path)
    for needed in expected:
        assert needed.path in out
    assert f"{len(expected)} of {len(expected)} missing" in out
    # The files a text run needs and their download hints are all in this one output.
    for path in ("truthfulqa/data/mc_task.json", "ethics/virtue/virtue_test.csv"):
        assert path in out
    assert "ethics.tar" in out
    assert "sylinrl/TruthfulQA" in out


def test_check_counts_a_task_present_once_its_files_are_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A task whose files are all there checks clean and exits 0."""
    (tmp_path / "truthfulqa" / "data").mkdir(parents=True)
    (tmp_path / "truthfulqa" / "data" / "mc_task.json").write_text("[]")
    status = run_cli(
        "data", "check", "--data-dir", str(tmp_path), "--tasks", "truthfulqa_mc1,truthfulqa_mc2"
    )
    out = capsys.readouterr().out
    assert status == 0, out
    assert "all 1 files present" in out


def test_check_without_a_data_folder_shows_what_the_hub_replaces(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without a data folder, hub tasks show `hub` and pass; a local-only task is missing."""
    monkeypatch.delenv("SBT_DATA_DIR", raising=False)
    assert run_cli("data", "check", "--tasks", "truthfulqa_mc1,ethics") == 0
    assert "EleutherAI/hendrycks_ethics/virtue" in capsys.readouterr().out
    assert run_cli("data", "check", "--tasks", "unicorn_sketchy") == 1
    assert "unicorn/sketchy-vqa/sketchy-vqa.json" in capsys.readouterr().out


def test_a_missing_few_shot_pool_is_optional(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing train split (read only by --num-fewshot) is listed but does not fail the check."""
    (tmp_path / "ethics" / "commonsense").mkdir(parents=True)
    (tmp_path / "ethics" / "commonsense" / "cm_test.csv").write_text("label,input\n")
    assert run_cli("data", "check", "--data-dir", str(tmp_path), "--tasks", "ethics_cm") == 0
    out = capsys.readouterr().out
    assert "ethics/commonsense/cm_train.csv" in out
    assert "missing (optional)" in out


def test_fetch_offline_is_one_line_naming_the_data_dir_flag() -> None:
    """Offline, fetching a hub dataset stops with one line that names --data-dir."""
    assert_one_line_error(sbt("data", "fetch", "truthfulqa"), "--data-dir", "data check")


def test_fetch_names_where_local_only_files_come_from(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """For a task the hub does not hold, fetch prints where each missing folder comes from."""
    assert run_cli("data", "fetch", "unicorn_sketchy", "--data-dir", str(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "unicorn/ (2 missing)" in out
    assert "PahaII/vllm_safety_evaluation" in out
    assert f"data check --data-dir {tmp_path}" in out


def test_fetch_prepares_each_hub_dataset_once_at_its_pinned_commit(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Fetching TruthfulQA prepares its two hub configs at the commit the task YAML pins."""
    import datasets

    import sbt_bench.cli.data
    from sbt_bench.core.hub import HubAccess

    asked: list[tuple[str, str | None, str | None]] = []

    class Builder:
        def __init__(self, path: str, name: str | None, revision: str | None) -> None:
            asked.append((path, name, revision))

        def download_and_prepare(self) -> None:
            """Nothing to download."""

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(sbt_bench.cli.data, "check_hub", lambda: HubAccess(offline=False))
    monkeypatch.setattr(datasets, "load_dataset_builder", Builder)
    assert run_cli("data", "fetch", "truthfulqa") == 0
    pin = TASKS.get("truthfulqa_mc1").dataset.revision
    assert sorted(asked) == [
        ("truthfulqa/truthful_qa", "generation", pin),
        ("truthfulqa/truthful_qa", "multiple_choice", pin),
    ]
    assert "Hugging Face cache" in capsys.readouterr().out
