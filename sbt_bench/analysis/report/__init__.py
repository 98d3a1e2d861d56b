"""`sbt-bench report`: one self-contained HTML page from results folders.

    sbt-bench report results/ --base smollm2 --output report.html --plots figures/

The page holds the leaderboard with 95% CIs, a bar chart with error bars per column, a
forest plot of the differences against the base (paired, Holm-corrected) and the items
that flipped between the base and each other model. It is built only from results.json
and samples files, never from live runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from sbt_bench.analysis.baseline import BaseComparison, compare_to_base, load_entries
from sbt_bench.analysis.leaderboard import (
    LeaderboardSpec,
    Table,
    build_table,
    load_leaderboard_spec,
    table_cells,
)
from sbt_bench.analysis.pairing import RunFolder, TaskComparison
from sbt_bench.analysis.report.charts import (
    Bar,
    ForestRow,
    bar_chart,
    forest_plot,
    save_figure,
    svg_text,
)
from sbt_bench.analysis.report.page import PageContent, render_page
from sbt_bench.core.files import write_atomic

__all__ = ["build_report"]


def build_report(
    paths: Sequence[str], *, spec_name: str, base: str | None, output: Path, plots: Path | None
) -> list[Path]:
    """Write the page (and with `plots` the charts as PNG and SVG); the paths written."""
    entries = load_entries(paths)
    spec = _columns_with_values(load_leaderboard_spec(spec_name), entries)
    table = build_table([e.results for e in entries], spec)
    comparison = None if base is None else compare_to_base(entries, spec, base)
    bars = bar_chart(_bars(table), [model for model, _ in table.rows])
    forest = None if comparison is None else forest_plot(_forest_rows(comparison), base or "")
    content = PageContent(
        title=f"SBT-Bench report: {spec.name}",
        description=spec.description,
        sources=tuple(str(e.path) for e in entries),
        table=table,
        comparison=comparison,
        bar_svg=svg_text(bars, "scores"),
        forest_svg=None if forest is None else svg_text(forest, "differences"),
        flips=() if comparison is None else _flips(comparison),
    )
    write_atomic(output, render_page(content))
    written = [output]
    if plots is not None:
        written += save_figure(bars, plots, "scores")
        if forest is not None:
            written += save_figure(forest, plots, "differences")
    return written


def _columns_with_values(spec: LeaderboardSpec, entries: Sequence[RunFolder]) -> LeaderboardSpec:
    """The spec without columns no model has a value for (a text run has no MME column)."""
    table = build_table([e.results for e in entries], spec)
    kept = tuple(
        column
        for j, column in enumerate(spec.columns)
        if any(values[j] is not None for _, values in table.rows)
    )
    return replace(spec, columns=kept)


def _bars(table: Table) -> list[tuple[str, list[Bar]]]:
    """Per column, each model's bar (models without a value are left out of that panel)."""
    rows = list(zip(table.rows, table_cells(table), strict=True))
    return [
        (
            label,
            [
                Bar(model, value, stats[j].interval, stats[j].partial)
                for (model, values), stats in rows
                if (value := values[j]) is not None
            ],
        )
        for j, label in enumerate(table.headers[1:])
    ]


def _forest_rows(comparison: BaseComparison) -> list[ForestRow]:
    many = len(comparison.rows) > 1
    return [
        ForestRow(
            label=f"{model}: {cell.label}" if many else cell.label,
            difference=c.difference,
            ci_low=c.ci_low,
            ci_high=c.ci_high,
            p_holm=c.p_holm,
            significant=cell.significant,
            verdict=cell.verdict,
        )
        for model, cells in comparison.rows
        for cell in cells
        if (c := cell.comparison) is not None
    ]


def _flips(comparison: BaseComparison) -> tuple[tuple[str, TaskComparison], ...]:
    """Per other model, the compared tasks that have flipped items."""
    return tuple((model, task) for model, tasks in comparison.tasks for task in tasks if task.flips)
