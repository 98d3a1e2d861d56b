"""Leaderboards: models x headline metrics, from results files, as markdown and CSV."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sbt_bench.analysis.leaderboard import (
    build_table,
    find_results,
    load_leaderboard_spec,
    render_csv,
    render_markdown,
)
from sbt_bench.core.errors import SbtError
from sbt_bench.results.records import new_results, read_results
from sbt_bench.results.schema import ModelIdentity, RecordedConfig


def write_results(
    folder: Path, name: str, accs: dict[str, float], groups: dict[str, float] | None = None
) -> Path:
    doc = new_results(ModelIdentity(name=name), RecordedConfig()).document
    doc["tasks"] = {t: {"metrics": {"acc": v}, "stderr": {"acc": 0.0}} for t, v in accs.items()}
    doc["groups"] = {g: {"metrics": {"acc": v}} for g, v in (groups or {}).items()}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(doc), encoding="utf-8")
    return folder / "results.json"


def test_table_rows_columns_and_sorting(tmp_path: Path) -> None:
    """Rows are models sorted by the spec's sort column, best first; missing cells are None."""
    write_results(tmp_path / "a", "weak", {"truthfulqa_mc1": 0.2}, {"ethics": 0.4})
    write_results(
        tmp_path / "b", "strong", {"truthfulqa_mc1": 0.3, "truthfulqa_mc2": 0.5}, {"ethics": 0.6}
    )
    spec = load_leaderboard_spec("sbt_text")
    table = build_table([read_results(p) for p in find_results([str(tmp_path)])], spec)
    assert table.headers[0] == "model"
    assert [row[0] for row in table.rows] == ["strong", "weak"]
    mc2 = table.headers.index("TruthfulQA mc2") - 1
    assert table.rows[1][1][mc2] is None

    markdown = render_markdown(table)
    assert "| strong | 0.3000 | 0.5000 |" in markdown
    assert "| weak | 0.2000 | - |" in markdown
    csv_text = render_csv(table)
    assert csv_text.splitlines()[1].startswith("strong,0.3,0.5,")


def test_missing_results_is_an_error(tmp_path: Path) -> None:
    """A folder without results.json is named in the error."""
    with pytest.raises(SbtError, match=r"no results\.json"):
        find_results([str(tmp_path)])


def test_unknown_spec_lists_shipped_ones() -> None:
    """An unknown spec name lists the shipped leaderboards."""
    with pytest.raises(SbtError, match="sbt_text"):
        load_leaderboard_spec("nope")
