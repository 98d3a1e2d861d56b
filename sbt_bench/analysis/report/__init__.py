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
from sbt_bench.analysis.breakdowns import build_breakdowns
from sbt_bench.analysis.leaderboard import (
    LeaderboardSpec,
    Table,
    build_table,
    load_leaderboard_spec,
    table_cells,
)
from sbt_bench.analysis.pairing import RunFolder, TaskComparison
from sbt_bench.analysis.published import compare_published
from sbt_bench.analysis.report.charts import (
    UNIT_SHARE,
    Bar,
    ForestRow,
    bar_chart,
    forest_plot,
    save_figure,
    svg_text,
)
from sbt_bench.analysis.report.page import PageContent, render_page
from sbt_bench.core.files import write_atomic
from sbt_bench.tasks import GROUPS, TASKS

__all__ = ["build_report", "column_units"]


def build_report(
    paths: Sequence[str], *, spec_name: str, base: str | None, output: Path, plots: Path | None
) -> list[Path]:
    """Write the page (and with `plots` the charts as PNG and SVG); the paths written."""
    entries = load_entries(paths)
    spec = _columns_with_values(load_leaderboard_spec(spec_name), entries)
    table = build_table([e.results for e in entries], spec)
    comparison = None if base is None else compare_to_base(entries, spec, base)
    bars = bar_chart(_bars(table), [model for model, _ in table.rows])
    units = column_units(spec, table)
    forest = (
        None if comparison is None else forest_plot(_forest_rows(comparison, units), base or "")
    )
    content = PageContent(
        title=f"SBT-Bench report: {spec.name}",
        description=spec.description,
        sources=tuple(str(e.path) for e in entries),
        table=table,
        comparison=comparison,
        bar_svg=svg_text(bars, "scores"),
        forest_svg=None if forest is None else svg_text(forest, "differences"),
        flips=() if comparison is None else _flips(comparison),
        breakdowns=tuple(build_breakdowns([e.results for e in entries], spec)),
        published=tuple(
            compare_published(
                spec.published,
                table.headers[1:],
                table.rows,
                [[s.interval for s in row] for row in table_cells(table)],
            )
        ),
    )
    write_atomic(output, render_page(content), fix="give --output another path")
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


# Aggregates whose numbers are on a scale of their own, and the panel they share.
UNITS = {
    "mme": "MME score (points)",
    "caption": "CIDEr",
    "caption_corruptions": "CIDEr",
}


def column_units(spec: LeaderboardSpec, table: Table) -> dict[str, str]:
    """Each column's forest panel: its task's own scale, the [0, 1] panel, or its own.

    MME's perception, cognition and total share the points panel and captions the CIDEr
    one, whatever their values; other columns whose every value lies in [0, 1]
    (accuracies, F1, mc2's mass) share the [0, 1] panel; anything else gets its own.
    """
    units = {}
    for j, column in enumerate(spec.columns):
        values = [v for _, row in table.rows if (v := row[j]) is not None]
        group = str(column.group)
        task = column.task or (GROUPS.get(group).tasks[0] if group in GROUPS else "")
        aggregate = TASKS.get(task).aggregate if task in TASKS else ""
        if aggregate in UNITS:
            units[column.label] = UNITS[aggregate]
        elif all(0.0 <= v <= 1.0 for v in values):
            units[column.label] = UNIT_SHARE
        else:
            units[column.label] = column.label
    return units


def _forest_rows(comparison: BaseComparison, units: dict[str, str]) -> list[ForestRow]:
    many = len(comparison.rows) > 1
    return [
        ForestRow(
            label=f"{model}: {cell.label}" if many else cell.label,
            difference=c.difference,
            ci_low=c.ci_low,
            ci_high=c.ci_high,
            p_holm=c.p_holm,
            significant=cell.significant,
            unit=units.get(cell.label, cell.label),
            verdict=cell.verdict,
        )
        for model, cells in comparison.rows
        for cell in cells
        if (c := cell.comparison) is not None
    ]


def _flips(comparison: BaseComparison) -> tuple[tuple[str, TaskComparison], ...]:
    """Per other model, each paired task: its flipped items, or why it has none."""
    return tuple(
        (model, task)
        for model, tasks in comparison.tasks
        for task in tasks
        if task.flips or task.flips_note
    )
