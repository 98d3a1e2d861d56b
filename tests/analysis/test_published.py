"""Published numbers beside measured ones: `published:` rows in a leaderboard spec."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sbt_bench.analysis.leaderboard import load_leaderboard_spec
from tests.cli_runner import run_cli
from tests.report_data import write_pair

BASE = [0.40, 0.50, 0.50, 0.50, 0.50, 0.50, 0.50]
BETTER = [0.70, 0.55, 0.52, 0.50, 0.50, 0.50, 0.51]


def spec_with(tmp_path: Path, rows: list[dict[str, object]]) -> Path:
    """sbt_paper_text's columns with the given published rows, as a YAML file."""
    shipped = Path(__file__).parents[2] / "leaderboards" / "sbt_paper_text.yaml"
    data = yaml.safe_load(shipped.read_text())
    data["published"] = rows
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_leaderboard_shows_published_beside_measured_with_inside_or_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One value inside the measured CI, one far outside, one of a model not run."""
    write_pair(tmp_path / "runs", BASE, BETTER)
    source = {"paper": "A paper", "table": "2", "page": "7"}
    spec = spec_with(
        tmp_path,
        [
            {"model": "Better (paper)", "measured_model": "better", "metric": "TruthfulQA mc1",
             "value": 0.7, "source": source},
            {"model": "base", "metric": "TruthfulQA mc1", "value": 0.99, "source": source},
            {"model": "absent", "metric": "ETHICS cm", "value": 0.5, "source": source},
        ],
    )  # fmt: skip
    assert run_cli("leaderboard", str(tmp_path / "runs"), "--spec", str(spec)) == 0
    out = capsys.readouterr().out
    assert "### Published vs measured" in out
    lines = {
        line.split(" | ")[0].strip("| "): line for line in out.splitlines() if "| A paper" in line
    }
    assert "| yes |" in lines["Better (paper)"]
    assert "| no |" in lines["base"]
    assert "not measured" in lines["absent"]
    assert "A paper, table 2, p. 7" in lines["base"]


def test_report_has_the_published_table(tmp_path: Path) -> None:
    """The page lists the published rows in their own table."""
    write_pair(tmp_path / "runs", BASE, BETTER)
    spec = spec_with(
        tmp_path,
        [{"model": "base", "metric": "TruthfulQA mc1", "value": 0.4, "source": {"paper": "P"}}],
    )
    page = tmp_path / "page.html"
    assert (
        run_cli("report", str(tmp_path / "runs"), "--spec", str(spec), "--output", str(page)) == 0
    )
    html = page.read_text()
    assert '<table id="published">' in html
    assert "<td>yes</td>" in html


def test_unknown_metric_in_a_published_row_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A row naming no column of the spec: one line naming the file, row and columns."""
    write_pair(tmp_path / "runs", BASE, BETTER)
    spec = spec_with(
        tmp_path, [{"model": "m", "metric": "MMLU", "value": 0.5, "source": {"paper": "P"}}]
    )
    assert run_cli("leaderboard", str(tmp_path / "runs"), "--spec", str(spec)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "published row 1" in err[0] and "'MMLU'" in err[0] and "TruthfulQA mc1" in err[0]


def test_shipped_paper_specs_carry_only_cited_rows() -> None:
    """Every shipped published row cites a paper (none ship unverified)."""
    for name in ("sbt_paper_text", "sbt_vision", "sbt_text", "gpt4v_comparison"):
        for row in load_leaderboard_spec(name).published:
            assert row.source.get("paper") and (row.source.get("table") or row.source.get("page"))
