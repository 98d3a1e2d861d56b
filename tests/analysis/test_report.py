"""`sbt-bench report`: one self-contained HTML page, its charts, and bad input."""

from __future__ import annotations

import builtins
import re
from pathlib import Path
from typing import Any

import pytest

from tests.cli_runner import run_cli
from tests.report_data import write_pair, write_run

BASE = [0.40, 0.50, 0.50, 0.50, 0.50, 0.50, 0.50]
BETTER = [0.70, 0.55, 0.52, 0.50, 0.50, 0.50, 0.51]


def _report(tmp_path: Path, *extra: str) -> str:
    out = tmp_path / "report.html"
    args = ("report", str(tmp_path / "runs"), "--spec", "sbt_paper_text", "--output", str(out))
    assert run_cli(*args, *extra) == 0
    return out.read_text(encoding="utf-8")


def test_page_is_self_contained_with_all_sections(tmp_path: Path) -> None:
    """The page has the leaderboard, both charts as inline SVG, flips, and fetches nothing."""
    write_pair(tmp_path / "runs", BASE, BETTER)
    page = _report(tmp_path, "--base", "base")
    assert page.count("<svg") == 2
    assert 'id="leaderboard"' in page and 'id="differences"' in page
    assert "<details>" in page and "wrong \u2192 right" in page
    for fetch in ("src=", "<link", "<script", "@import"):
        assert fetch not in page
    # SVG links only to its own clip paths and markers (url(#id), href="#id").
    assert not re.findall(r'url\((?!#)|href="(?!#)', page)


def test_model_text_is_escaped(tmp_path: Path) -> None:
    """An answer holding markup appears escaped in the flips, never as a live element."""
    runs = tmp_path / "runs"
    write_run(runs / "base", "base", {"truthfulqa_mc1": 0.3})
    write_run(runs / "odd", "odd", {"truthfulqa_mc1": 0.7}, answer="<script>alert(1)</script>")
    page = _report(tmp_path, "--base", "base")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_without_base_there_are_no_differences(tmp_path: Path) -> None:
    """Without --base the page has the leaderboard and bars, and says how to get the rest."""
    write_pair(tmp_path / "runs", BASE, BETTER)
    page = _report(tmp_path)
    assert page.count("<svg") == 1
    assert 'id="differences"' not in page and "Give --base MODEL" in page


def test_plots_are_written_as_png_and_svg(tmp_path: Path) -> None:
    """--plots DIR writes both charts in both formats."""
    write_pair(tmp_path / "runs", BASE, BETTER)
    _report(tmp_path, "--base", "base", "--plots", str(tmp_path / "fig"))
    names = sorted(p.name for p in (tmp_path / "fig").iterdir())
    assert names == ["differences.png", "differences.svg", "scores.png", "scores.svg"]
    assert (tmp_path / "fig" / "scores.png").read_bytes()[:4] == b"\x89PNG"


def test_folder_without_results_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`report` on a folder with no results.json names the folder, exit status 2."""
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run_cli("report", str(empty), "--output", str(tmp_path / "r.html")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"no results.json in {empty}" in err[0]
    assert not (tmp_path / "r.html").exists()


def test_missing_matplotlib_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without matplotlib the report stops with one line naming the `report` extra."""
    write_pair(tmp_path / "runs", BASE, BETTER)
    real_import = builtins.__import__

    def no_matplotlib(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    out = tmp_path / "report.html"
    assert run_cli("report", str(tmp_path / "runs"), "--output", str(out)) == 2
    assert ".[report]" in capsys.readouterr().err


def test_page_lists_each_groups_members_with_intervals(tmp_path: Path) -> None:
    """The breakdown section: the ETHICS mean's five subsets per model, each with its CI."""
    write_pair(tmp_path / "runs", BASE, BETTER)
    page = _report(tmp_path)
    assert "<h2>Breakdowns (95% CI)</h2>" in page
    section = page.split("<h2>Breakdowns (95% CI)</h2>", 1)[1]
    rows = re.findall(
        r"<tr><td>(\w+)</td><td>(ethics_\w+)</td><td>[\d.]+<span class=\"ci\">", section
    )
    assert len(rows) == 10


def test_mme_points_and_shares_get_separate_forest_panels(data_dir: Path, tmp_path: Path) -> None:
    """The differences chart: a panel for [0, 1] columns and one for MME points, not one axis."""
    from sbt_bench.analysis.baseline import load_entries
    from sbt_bench.analysis.leaderboard import build_table, load_leaderboard_spec
    from sbt_bench.analysis.report import column_units
    from tests.report_data import score_vision_pair

    out, base = score_vision_pair(data_dir, tmp_path)
    spec = load_leaderboard_spec("sbt_vision")
    table = build_table([e.results for e in load_entries([str(out)])], spec)
    units = column_units(spec, table)
    assert {units[label] for label in ("MME perception", "MME cognition", "MME total")} == {
        "MME score (points)"
    }
    assert units["POPE random F1"] == "shares and scores in [0, 1]"
    page = tmp_path / "report.html"
    args = ("report", str(out), "--spec", "sbt_vision", "--base", base, "--output", str(page))
    assert run_cli(*args) == 0
    forest = page.read_text().split("<h2>Differences against", 1)[1]
    assert forest[forest.index("<svg") : forest.index("</svg>")].count('<g id="axes_') == 2


def test_forest_colours_follow_the_verdict() -> None:
    """Better is green, worse orange; a significant change of yes_ratio (no direction) grey."""
    from sbt_bench.analysis.report.charts import (
        BETTER_COLOUR,
        PLAIN_COLOUR,
        SIGNIFICANT_COLOUR,
        ForestRow,
        forest_plot,
    )

    rows = [
        ForestRow("acc up", 0.1, 0.05, 0.15, 0.01, significant=True, verdict="better"),
        ForestRow("acc down", -0.1, -0.15, -0.05, 0.01, significant=True, verdict="worse"),
        ForestRow("yes ratio", 0.3, 0.2, 0.4, 0.001, significant=True, verdict=None),
    ]
    axes = forest_plot(rows, "base").axes[0]
    points = [line.get_color() for line in axes.lines if line.get_marker() == "o"]
    assert points == [BETTER_COLOUR, SIGNIFICANT_COLOUR, PLAIN_COLOUR]
