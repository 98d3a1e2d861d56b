"""The command line: subcommands exist, and bad input is one line on stderr with exit status 2."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from sbt_bench.cli import build_parser
from tests.cli_runner import assert_one_line_error, sbt


def run_tiny(model: Path, task: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """`sbt-bench run` of one task on the tiny model, with extra flags."""
    return sbt("run", "--tasks", task, "--models", f"hf:{model}", *extra)


def test_help_lists_every_subcommand() -> None:
    """`sbt-bench -h` shows list, run and leaderboard."""
    text = build_parser().format_help()
    for name in ("list", "run", "leaderboard"):
        assert name in text


def test_list_shows_tasks_groups_and_sources(data_dir: Path) -> None:
    """`sbt-bench list -v` names tasks with metrics and local paths, and groups with members."""
    proc = sbt("list", "--verbose", "--data-dir", str(data_dir))
    assert proc.returncode == 0, proc.stderr
    assert "truthfulqa_mc2" in proc.stdout
    assert "ethics/virtue/virtue_test.csv" in proc.stdout
    assert "ethics_cm,ethics_deontology" in proc.stdout


def test_list_fits_100_columns() -> None:
    """`sbt-bench list` without --verbose fits 100 columns and still names every task."""
    proc = sbt("list")
    assert proc.returncode == 0, proc.stderr
    assert max(len(line) for line in proc.stdout.splitlines()) <= 100
    assert "unicorn_oodcv_counterfactual_script" in proc.stdout
    assert "sbt-bench list --verbose" in proc.stdout
    wide = sbt("list", "-v")
    assert "unparsed_judgements" in wide.stdout


class TestBadInput:
    def test_unknown_task_suggests(self, tiny_model_dir: Path) -> None:
        """A misspelt task gets a did-you-mean."""
        proc = sbt("run", "--tasks", "truthfulqa_mc3", "--models", f"hf:{tiny_model_dir}")
        assert_one_line_error(proc, "unknown task or group 'truthfulqa_mc3'", "truthfulqa_mc2")

    def test_unknown_model_suggests(self) -> None:
        """A misspelt alias gets a did-you-mean and the accepted forms."""
        proc = sbt("run", "--tasks", "ethics_cm", "--models", "smolm2")
        assert_one_line_error(proc, "unknown model 'smolm2'", "smollm2", "hf:")

    def test_missing_model_path(self, tmp_path: Path) -> None:
        """A model path that does not exist is named."""
        proc = sbt("run", "--tasks", "ethics_cm", "--models", f"hf:{tmp_path}/nope")
        assert_one_line_error(proc, "does not exist", "nope")

    def test_missing_data_file(self, tiny_model_dir: Path, tmp_path: Path) -> None:
        """A data dir lacking the task's file names the expected path."""
        proc = run_tiny(tiny_model_dir, "ethics_justice", "--data-dir", str(tmp_path))
        assert_one_line_error(proc, "ethics/justice/justice_test.csv", "--data-dir")

    def test_malformed_csv_row(self, tiny_model_dir: Path, tmp_path: Path) -> None:
        """A malformed row names the file and line instead of scoring a shorter task."""
        folder = tmp_path / "ethics" / "justice"
        folder.mkdir(parents=True)
        (folder / "justice_test.csv").write_text(
            "label,scenario\n1,ok\n0,bad,row\n", encoding="utf-8"
        )
        proc = run_tiny(
            tiny_model_dir,
            "ethics_justice",
            "--data-dir",
            str(tmp_path),
            "--output-dir",
            str(tmp_path / "out"),
        )
        assert_one_line_error(proc, "justice_test.csv:3")

    def test_unreachable_hub_for_data_names_the_flag(self, tiny_model_dir: Path) -> None:
        """Without a data dir and without the hub, the error says to pass --data-dir."""
        proc = run_tiny(tiny_model_dir, "ethics_cm")
        assert_one_line_error(proc, "Hugging Face hub", "--data-dir")

    def test_unreachable_hub_for_model(self, data_dir: Path, tmp_path: Path) -> None:
        """A hub model id that cannot be fetched says to pass a local folder."""
        proc = sbt(
            "run",
            "--tasks",
            "ethics_cm",
            "--models",
            "hf:some-org/some-model",
            "--limit",
            "2",
            "--data-dir",
            str(data_dir),
            "--output-dir",
            str(tmp_path),
        )
        assert_one_line_error(proc, "some-org/some-model", "hf:/path/to/model")

    def test_bad_limit(self, tiny_model_dir: Path) -> None:
        """A non-positive --limit is refused before any work."""
        proc = sbt(
            "run", "--tasks", "ethics_cm", "--models", f"hf:{tiny_model_dir}", "--limit", "0"
        )
        assert_one_line_error(proc, "--limit")


@pytest.mark.parametrize("fmt", ["md", "csv"])
def test_leaderboard_command(tmp_path: Path, fmt: str) -> None:
    """`sbt-bench leaderboard` reads an output dir and prints the spec's columns."""
    from tests.analysis.test_leaderboard import write_results

    write_results(tmp_path / "a", "model-a", {"truthfulqa_mc2": 0.5})
    proc = sbt("leaderboard", str(tmp_path), "--format", fmt)
    assert proc.returncode == 0, proc.stderr
    assert "model-a" in proc.stdout
    assert "TruthfulQA mc2" in proc.stdout
