"""The report page rendered by headless Chromium: not blank, and its numbers are the results'."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from sbt_bench.analysis.leaderboard import load_leaderboard_spec
from tests.cli_runner import run_cli
from tests.needs import need
from tests.report_data import score_vision_pair, write_pair

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(autouse=True)
def _chromium() -> None:
    """Every test here renders the page in Chromium (.ci/run installs Debian's)."""
    need(CHROMIUM is not None, "the program 'chromium'")


HEADLESS = ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars")


class LeaderboardCells(HTMLParser):
    """Rows of `<table id="leaderboard">` as (model, [(text, data-value) per cell])."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[str, list[tuple[str, str | None]]]] = []
        self._inside = False
        self._cell: list[str] | None = None
        self._value: str | None = None
        self._row: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._inside = dict(attrs).get("id") == "leaderboard"
        elif self._inside and tag == "tr":
            self._row = []
        elif self._inside and tag == "td":
            self._cell, self._value = [], dict(attrs).get("data-value")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._inside = False
        elif self._inside and tag == "td" and self._cell is not None:
            self._row.append(("".join(self._cell), self._value))
            self._cell = None
        elif self._inside and tag == "tr" and self._row:
            self.rows.append((self._row[0][0], self._row[1:]))

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _chromium(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHROMIUM), *HEADLESS, *args], capture_output=True, text=True, timeout=120, check=True
    )


def test_screenshot_is_not_blank_and_numbers_match_results(tmp_path: Path) -> None:
    """Chromium renders a colourful page whose leaderboard numbers equal results.json's."""
    from PIL import Image

    folders = write_pair(tmp_path / "runs", [0.4, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5], [0.7] * 7)
    page = tmp_path / "report.html"
    args = ("report", str(tmp_path / "runs"), "--spec", "sbt_paper_text", "--base", "base")
    assert run_cli(*args, "--output", str(page)) == 0

    shot = tmp_path / "shot.png"
    _chromium(f"--screenshot={shot}", "--window-size=1280,2000", page.as_uri())
    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 2000)
    colours = image.getcolors(maxcolors=1_000_000) or []
    assert len(colours) > 50, "the screenshot is (nearly) one colour"

    parser = LeaderboardCells()
    parser.feed(_chromium("--dump-dom", page.as_uri()).stdout)
    docs = {f.name: json.loads((f / "results.json").read_text()) for f in folders}
    columns = [
        c
        for c in load_leaderboard_spec("sbt_paper_text").columns
        if c.task != "truthfulqa_gen_paper"
    ]
    assert sorted(model for model, _ in parser.rows) == sorted(docs)
    for model, cells in parser.rows:
        assert len(cells) == len(columns)
        for column, (text, value) in zip(columns, cells, strict=True):
            section, name = ("tasks", column.task) if column.task else ("groups", column.group)
            expected = docs[model][section][name]["metrics"][column.metric]
            assert value is not None and float(value) == expected
            assert text.startswith(f"{expected:.4f}")


def test_mme_totals_and_accuracies_get_separate_scales(data_dir: Path, tmp_path: Path) -> None:
    """MME totals (0-2000) and F1 (0-1) on separate axes; the screenshot can refresh docs."""
    from PIL import Image

    out, base = score_vision_pair(data_dir, tmp_path)
    page = tmp_path / "report.html"
    args = ("report", str(out), "--spec", "sbt_vision", "--base", base, "--output", str(page))
    assert run_cli(*args) == 0
    shot = tmp_path / "shot.png"
    _chromium(f"--screenshot={shot}", "--window-size=1280,2400", page.as_uri())
    image = Image.open(shot).convert("RGB")
    assert len(image.getcolors(maxcolors=1_000_000) or []) > 50
    if os.environ.get("SBT_UPDATE_DOCS"):  # refresh the README image on purpose only
        shutil.copyfile(shot, Path(__file__).parents[2] / "docs" / "report.png")
