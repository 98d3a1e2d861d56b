"""The report page: one HTML file with inline CSS and inline SVG charts, no network needed.

Every piece of model or data text goes through `html.escape`: prompts and answers are
arbitrary strings and must never become markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from sbt_bench.analysis.baseline import (
    REGRESSION_MARK,
    SIGNIFICANT_MARK,
    UNTESTED_MARK,
    BaseComparison,
    CellDifference,
    describe_untested,
    difference_mark,
)
from sbt_bench.analysis.breakdowns import BreakdownCell, BreakdownTable
from sbt_bench.analysis.flips import Flip
from sbt_bench.analysis.leaderboard import (
    PARTIAL_LEGEND,
    PARTIAL_MARK,
    CellStats,
    Table,
    describe_partial,
    format_value,
    table_cells,
)
from sbt_bench.analysis.pairing import TaskComparison
from sbt_bench.analysis.published import PublishedComparison, inside_text, measured_text

MDE_NOT_ESTIMABLE = "n/e"
NO_PAIRED_TASK = "No flipped items: no task could be paired with the base on its items."
# Flips listed per direction; the rest are counted and left to the samples files.
MAX_FLIPS_SHOWN = 100
# A prompt's last characters: TruthfulQA's six-shot primer would otherwise fill the page.
CONTEXT_TAIL = 600

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1200px; color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { margin-top: 1.8em; font-size: 1.25em; }
.meta { color: #666; font-size: 0.9em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.6em 0; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
#differences td:nth-child(2), #differences th:nth-child(2) { text-align: left; }
th { background: #f3f3f3; }
.ci { color: #777; font-size: 0.85em; display: block; }
.sig { color: #009E73; font-weight: 600; } .worse { color: #D55E00; font-weight: 600; }
.note { color: #555; font-size: 0.85em; margin: 0.3em 0; }
figure { margin: 1em 0; } figure svg { max-width: 100%; height: auto; }
details { margin: 0.4em 0; } summary { cursor: pointer; }
.flip { border-left: 3px solid #ccc; margin: 0.5em 0 0.5em 1em; padding: 0.2em 0.8em; }
.gained { border-color: #009E73; } .lost { border-color: #D55E00; }
pre { white-space: pre-wrap; background: #f8f8f8; padding: 0.4em; font-size: 0.8em; }
"""


@dataclass(frozen=True)
class PageContent:
    """Everything the page shows, already computed."""

    title: str
    description: str
    sources: tuple[str, ...]
    table: Table
    comparison: BaseComparison | None
    bar_svg: str
    forest_svg: str | None
    flips: tuple[tuple[str, TaskComparison], ...]
    """Per other model, each task compared with the base (its flipped items)."""
    breakdowns: tuple[BreakdownTable, ...] = ()
    """Each column's parts with their intervals (MME subtasks, group members)."""
    published: tuple[PublishedComparison, ...] = ()
    """The spec's published numbers beside the measured ones."""


GENERATOR_TAG = '<meta name="generator" content="sbt-bench report">'
"""Marks a page as a report, so `report` replaces its own pages but no other file."""


def render_page(content: PageContent) -> str:
    """The whole HTML document."""
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="en"><head><meta charset="utf-8">{GENERATOR_TAG}',
        f"<title>{escape(content.title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(content.title)}</h1>",
        (
            f'<p class="meta">{escape(content.description)}<br>results: '
            f"{escape(', '.join(content.sources))}</p>"
        ),
        "<h2>Leaderboard</h2>",
        _leaderboard_table(content.table),
        _table_notes(content.table),
        "<h2>Scores per task (95% CI)</h2>",
        f"<figure>{content.bar_svg}</figure>",
    ]
    if content.published:
        parts += ["<h2>Published vs measured</h2>", _published_table(content.published)]
    if content.breakdowns:
        parts += ["<h2>Breakdowns (95% CI)</h2>", *map(_breakdown_table, content.breakdowns)]
    if content.comparison is not None and content.forest_svg is not None:
        parts += [
            f"<h2>Differences against {escape(content.comparison.base)}</h2>",
            _differences_table(content.comparison),
            f"<figure>{content.forest_svg}</figure>",
            "<h2>Flipped items</h2>",
            *(_flip_section(model, task) for model, task in content.flips),
        ]
        if not content.flips:
            parts.append(f'<p class="note">{escape(NO_PAIRED_TASK)}</p>')
    else:
        parts.append('<p class="note">Give --base MODEL for differences and flipped items.</p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _published_table(rows: Sequence[PublishedComparison]) -> str:
    head = "".join(
        f"<th>{h}</th>"
        for h in ("model", "column", "published", "measured [95% CI]", "inside CI", "source")
    )
    body = "".join(
        f"<tr><td>{escape(c.row.model)}</td><td>{escape(c.row.metric)}</td>"
        f"<td>{c.row.value:.4f}</td><td>{escape(measured_text(c))}</td>"
        f"<td>{inside_text(c)}</td><td>{escape(c.row.citation())}</td></tr>"
        for c in rows
    )
    return f'<table id="published"><tr>{head}</tr>{body}</table>'


def _breakdown_table(table: BreakdownTable) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in ("model", "part", *table.metrics))
    rows = []
    for row in table.rows:
        cells = "".join(_breakdown_cell(c) for c in row.cells)
        rows.append(f"<tr><td>{escape(row.model)}</td><td>{escape(row.part)}</td>{cells}</tr>")
    note = f'<p class="note">No interval: {escape(table.note)}.</p>' if table.note else ""
    return (
        f"<h3>{escape(table.label)}</h3>"
        f'<table class="breakdown"><tr>{head}</tr>{"".join(rows)}</table>{note}'
    )


def _breakdown_cell(cell: BreakdownCell) -> str:
    if cell.value is None:
        return "<td>-</td>"
    ci = ""
    if cell.interval is not None:
        lo, hi = cell.interval
        ci = f'<span class="ci">[{format_value(lo)}, {format_value(hi)}]</span>'
    return f"<td>{format_value(cell.value)}{ci}</td>"


def _leaderboard_table(table: Table) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in table.headers)
    rows = []
    for (model, values), stats in zip(table.rows, table_cells(table), strict=True):
        cells = "".join(_value_cell(v, s) for v, s in zip(values, stats, strict=True))
        rows.append(f"<tr><td>{escape(model)}</td>{cells}</tr>")
    return f'<table id="leaderboard"><tr>{head}</tr>{"".join(rows)}</table>'


def _value_cell(value: float | None, stats: CellStats) -> str:
    """A value with its CI; the exact numbers ride along as data attributes."""
    if value is None:
        return "<td>-</td>"
    attrs = f' data-value="{value!r}"'
    ci = ""
    if stats.interval is not None:
        lo, hi = stats.interval
        attrs += f' data-lo="{lo!r}" data-hi="{hi!r}"'
        ci = f'<span class="ci">[{format_value(lo)}, {format_value(hi)}]</span>'
    if stats.n is not None:
        attrs += f' data-n="{stats.n}"'
    mark = PARTIAL_MARK if stats.partial else ""
    return f"<td{attrs}>{format_value(value)}{mark}{ci}</td>"


def _table_notes(table: Table) -> str:
    notes = ["Each value is followed by its 95% confidence interval."]
    if partial := describe_partial(table):
        notes.append(f"{PARTIAL_MARK} {PARTIAL_LEGEND}: {partial}.")
    notes += [
        f"Not comparable: {label!r} mixes multiple-choice protocols." for label in table.mixed
    ]
    return "".join(f'<p class="note">{escape(n)}</p>' for n in notes)


def _differences_table(comparison: BaseComparison) -> str:
    head = "".join(
        f"<th>{h}</th>"
        for h in ("model", "column", "difference", "95% CI", "p (Holm)", "MDE", "n paired", "test")
    )
    rows = [
        _difference_row(model, cell)
        for model, cells in comparison.rows
        for cell in cells
        if cell.raw is not None
    ]
    notes = [
        (
            f"Paired on item ids. {SIGNIFICANT_MARK} better, {REGRESSION_MARK} worse than the "
            "base at p < 0.05 after Holm's correction across each model's columns (a metric "
            "with no better direction, like yes_ratio, is not marked). MDE: the smallest true "
            "difference detected with 80% power."
        )
    ]
    reasons = {
        cell.comparison.mde_note
        for _, cells in comparison.rows
        for cell in cells
        if cell.comparison is not None and cell.comparison.mde_note
    }
    notes += [f"MDE {MDE_NOT_ESTIMABLE}: {why}." for why in sorted(reasons)]
    if untested := describe_untested(comparison):
        notes.append(f"{UNTESTED_MARK} not tested: {untested}.")
    note_html = "".join(f'<p class="note">{escape(n)}</p>' for n in notes)
    return f'<table id="differences"><tr>{head}</tr>{"".join(rows)}</table>{note_html}'


def _difference_row(model: str, cell: CellDifference) -> str:
    c = cell.comparison
    if c is None:
        numbers = [format_value(cell.raw, signed=True) + UNTESTED_MARK, "-", "-", "-", "-", "-"]
    else:
        numbers = [
            format_value(c.difference, signed=True) + difference_mark(cell),
            f"[{format_value(c.ci_low, signed=True)}, {format_value(c.ci_high, signed=True)}]",
            _format_p(c.p_holm),
            format_value(c.mde) if c.mde_note is None else MDE_NOT_ESTIMABLE,
            str(c.n_paired),
            c.test,
        ]
    css = {"better": ' class="sig"', "worse": ' class="worse"', None: ""}[cell.verdict]
    tds = "".join(f"<td{css}>{escape(n)}</td>" for n in numbers)
    return f"<tr><td>{escape(model)}</td><td>{escape(cell.label)}</td>{tds}</tr>"


def _flip_section(model: str, task: TaskComparison) -> str:
    if not task.flips:
        why = f"{model} vs base, {task.task}: no flipped items ({task.flips_note})"
        return f'<p class="note">{escape(why)}</p>'
    gained = [f for f in task.flips if f.direction == "wrong->right"]
    lost = [f for f in task.flips if f.direction == "right->wrong"]
    summary = (
        f"{model} vs base, {task.task}: {len(gained)} wrong \u2192 right, "
        f"{len(lost)} right \u2192 wrong"
    )
    body = _flip_items(gained, "gained", "wrong \u2192 right") + _flip_items(
        lost, "lost", "right \u2192 wrong"
    )
    return f"<details><summary>{escape(summary)}</summary>{body}</details>"


def _flip_items(items: Sequence[Flip], css: str, heading: str) -> str:
    if not items:
        return ""
    shown = "".join(_flip_item(f, css) for f in items[:MAX_FLIPS_SHOWN])
    rest = len(items) - MAX_FLIPS_SHOWN
    more = f'<p class="note">... and {rest} more (see `sbt-bench compare`\'s flips files)</p>'
    return f"<h3>{escape(heading)} ({len(items)})</h3>{shown}{more if rest > 0 else ''}"


def _flip_item(flip: Flip, css: str) -> str:
    context = flip.prompt[-CONTEXT_TAIL:]
    cut = "\u2026" if len(flip.prompt) > CONTEXT_TAIL else ""
    return (
        f'<div class="flip {css}"><b>item {escape(flip.id)}</b> ({escape(flip.metric)})'
        f"<pre>{escape(cut + context)}</pre>"
        f"<div>correct: {escape(flip.reference)}</div>"
        f"<div>base: {escape(flip.base_answer)}</div>"
        f"<div>other: {escape(flip.other_answer)}</div></div>"
    )


def _format_p(p: float) -> str:
    """Four decimals, or two significant digits below 0.001 (never a bare 0.0000)."""
    return f"{p:.2g}" if 0 < p < 0.001 else format_value(p)  # noqa: PLR2004 - display cut-off
