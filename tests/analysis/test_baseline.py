"""Leaderboard CIs, partial-run marks and differences against a base model."""

from __future__ import annotations

from pathlib import Path

import pytest

from sbt_bench.analysis.baseline import (
    compare_to_base,
    load_entries,
    render_base_csv,
    render_base_markdown,
)
from sbt_bench.analysis.leaderboard import (
    build_table,
    load_leaderboard_spec,
    render_csv,
    render_markdown,
)
from tests.cli_runner import run_cli
from tests.report_data import ETHICS, write_pair, write_run

BASE = [0.40, 0.50, 0.50, 0.50, 0.50, 0.50, 0.50]
BETTER = [0.70, 0.55, 0.52, 0.50, 0.50, 0.50, 0.51]


def _board(root: Path, spec: str = "sbt_paper_text"):
    entries = load_entries([str(root)])
    board = load_leaderboard_spec(spec)
    return entries, board, build_table([e.results for e in entries], board)


def test_ci_cells_show_the_interval_from_stderr(tmp_path: Path) -> None:
    """With ci, a cell reads `value [value - 1.96 se, value + 1.96 se]` (4 decimals)."""
    write_run(tmp_path / "m", "m", {"truthfulqa_mc1": 0.5}, n_items=100)
    _, _, table = _board(tmp_path)
    mc1 = table.headers.index("TruthfulQA mc1") - 1
    value = table.rows[0][1][mc1]
    lo, hi = table.cells[0][mc1].interval  # type: ignore[misc]
    assert value is not None
    assert hi - value == pytest.approx(value - lo)
    text = render_markdown(table, ci=True)
    assert f"{value:.4f} [{lo:.4f}, {hi:.4f}]" in text
    assert f"{value:.4f} [" not in render_markdown(table)
    header = render_csv(table, ci=True).splitlines()[0]
    assert "lo:TruthfulQA mc1,hi:TruthfulQA mc1" in header


def test_recorded_ci_wins_over_stderr(tmp_path: Path) -> None:
    """A `ci` recorded in results.json (e.g. a bootstrap's, asymmetric) is shown as recorded."""
    import json

    folder = write_run(tmp_path / "m", "m", {"truthfulqa_mc1": 0.5})
    doc = json.loads((folder / "results.json").read_text())
    doc["tasks"]["truthfulqa_mc1"]["ci95"] = {"acc": [0.1, 0.9]}
    (folder / "results.json").write_text(json.dumps(doc))
    _, _, table = _board(tmp_path)
    assert table.cells[0][0].interval == (0.1, 0.9)


def test_limited_runs_are_marked_not_mixed(tmp_path: Path) -> None:
    """A --limit run's cells carry the dagger and a legend naming model, column and counts."""
    write_run(tmp_path / "full", "full", {"truthfulqa_mc1": 0.5}, n_items=100)
    write_run(tmp_path / "short", "short", {"truthfulqa_mc1": 0.9}, n_items=100, limit=10)
    _, _, table = _board(tmp_path)
    rows = dict(table.rows)
    text = render_markdown(table)
    assert f"| short | {rows['short'][0]:.4f}\u2020 |" in text
    assert f"| full | {rows['full'][0]:.4f} |" in text
    assert "short: TruthfulQA mc1 (10 of 100 items)" in text
    assert "n:TruthfulQA mc1" in render_csv(table).splitlines()[0]


def test_different_item_counts_are_marked(tmp_path: Path) -> None:
    """Without --limit, a run over fewer items than another row's is marked too."""
    write_run(tmp_path / "a", "a", {"truthfulqa_mc1": 0.5}, n_items=100)
    write_run(tmp_path / "b", "b", {"truthfulqa_mc1": 0.5}, n_items=80)
    _, _, table = _board(tmp_path)
    partial = {model: table.cells[i][0].partial for i, (model, _) in enumerate(table.rows)}
    assert partial == {"a": False, "b": True}


def test_base_differences_are_paired_and_holm_marked(tmp_path: Path) -> None:
    """A large mc1 gain is significant after Holm; equal ETHICS subsets are not."""
    write_pair(tmp_path, BASE, BETTER)
    entries, board, table = _board(tmp_path)
    comparison = compare_to_base(entries, board, "base")
    ((model, cells),) = comparison.rows
    by_label = {c.label: c for c in cells}
    assert model == "better"
    mc1 = by_label["TruthfulQA mc1"]
    assert mc1.significant and mc1.comparison is not None
    assert mc1.comparison.test == "mcnemar-exact"
    assert mc1.comparison.p_holm >= mc1.comparison.p_value
    assert not by_label["ETHICS utilitarianism"].significant
    assert by_label["ETHICS mean"].comparison is not None
    assert by_label["ETHICS mean"].comparison.test == "mean-of-subtasks-z"
    assert by_label["TruthfulQA mc2"].comparison.test == "paired-t"  # type: ignore[union-attr]
    text = render_base_markdown(table, comparison, ci=True)
    assert "| base (base) |" in text
    assert f"{mc1.raw:+.4f}*" in text
    assert render_base_csv(table, comparison).splitlines()[0].endswith("hi:ETHICS mean")


def test_unpaired_item_sets_are_not_tested(tmp_path: Path) -> None:
    """A --limit run against a full one shows the raw difference, marked not tested, and why."""
    write_run(tmp_path / "base", "base", {"truthfulqa_mc1": 0.4}, n_items=100)
    write_run(tmp_path / "other", "other", {"truthfulqa_mc1": 0.8}, n_items=100, limit=50)
    entries, board, table = _board(tmp_path)
    comparison = compare_to_base(entries, board, "base")
    cell = comparison.rows[0][1][0]
    assert cell.comparison is None and "field 'tasks.truthfulqa_mc1.limit' is 50" in cell.reason
    text = render_base_markdown(table, comparison)
    assert f"| other | {cell.raw:+.4f}\u2021\u2020 |" in text
    assert "\u2021 not tested: other: TruthfulQA mc1 (" in text


def test_leaderboard_command_with_base_and_ci(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`leaderboard --base --ci` prints the base row, marked differences and the legend."""
    write_pair(tmp_path, BASE, BETTER)
    assert (
        run_cli("leaderboard", str(tmp_path), "--spec", "sbt_paper_text", "--base", "base", "--ci")
        == 0
    )
    out = capsys.readouterr().out
    assert "| base (base) |" in out and "| better | +" in out
    assert "Holm" in out


def test_unknown_base_names_the_models(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--base with a name no results have is one error line listing the models."""
    write_pair(tmp_path, BASE, BETTER)
    assert run_cli("leaderboard", str(tmp_path), "--base", "nope") == 2
    assert (
        "--base 'nope' is not among the results; models: ['base', 'better']"
        in capsys.readouterr().err
    )


def test_paper_spec_columns_in_the_papers_order() -> None:
    """The paper's text table: TruthfulQA mc1, mc2, BLEU acc, ROUGE acc, ETHICS x5, mean."""
    spec = load_leaderboard_spec("sbt_paper_text")
    tasks = [c.task or c.group for c in spec.columns]
    assert tasks == [
        "truthfulqa_mc1",
        "truthfulqa_mc2",
        "truthfulqa_gen_paper",
        "truthfulqa_gen_paper",
        *ETHICS,
        "ethics",
    ]
    assert [c.metric for c in spec.columns][2:4] == ["bleu_acc", "rougeL_acc"]


def test_breakdown_lists_each_groups_members_with_their_interval(tmp_path: Path) -> None:
    """ETHICS mean's breakdown: the five subsets per model, each `value [lo, hi]`."""
    from sbt_bench.analysis.breakdowns import build_breakdowns, render_breakdowns_markdown
    from sbt_bench.analysis.leaderboard import read_interval

    write_pair(tmp_path, BASE, BETTER)
    entries, board, _ = _board(tmp_path)
    tables = build_breakdowns([e.results for e in entries], board)
    (ethics,) = [t for t in tables if t.label.startswith("ETHICS mean")]
    assert [(r.model, r.part) for r in ethics.rows] == [
        (m, t) for m in ("base", "better") for t in ETHICS
    ]
    text = render_breakdowns_markdown(tables, ci=True)
    entry = entries[0].results.tasks["ethics_cm"]
    low, high = read_interval(entry, "acc")  # type: ignore[misc]
    value = entry.metrics["acc"]
    assert value is not None
    assert f"| base | ethics_cm | {value:.4f} [{low:.4f}, {high:.4f}] |" in text
