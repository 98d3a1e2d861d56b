"""`leaderboard --breakdown`: each column's parts with their error bars.

A task column's parts are its results.json `breakdown` (MME's subtasks, OODCV's
situations and counts), with the intervals `breakdown_ci95` records; a group column's
parts are its member tasks (POPE's splits, ETHICS's subsets), each with its own
interval. A part without an interval shows the recorded reason (captions).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sbt_bench.analysis.leaderboard import LeaderboardSpec, format_value, read_interval
from sbt_bench.results.schema import RunResults

Interval = tuple[float, float] | None


@dataclass(frozen=True)
class BreakdownCell:
    """One number of a part, with its 95% CI (None: none recorded)."""

    value: float | None
    interval: Interval


@dataclass(frozen=True)
class BreakdownRow:
    """One model's part (a subtask, situation, or member task) across `metrics`."""

    model: str
    part: str
    cells: tuple[BreakdownCell, ...]


@dataclass(frozen=True)
class BreakdownTable:
    """The parts of one leaderboard column; `note` says why intervals are missing."""

    label: str
    metrics: tuple[str, ...]
    rows: tuple[BreakdownRow, ...]
    note: str | None = None


def build_breakdowns(results: Sequence[RunResults], spec: LeaderboardSpec) -> list[BreakdownTable]:
    """One table per column with parts (a task's breakdown once, however many columns)."""
    tables, seen = [], set()
    for column in spec.columns:
        key = column.task or f"group:{column.group}"
        if key in seen:
            continue
        seen.add(key)
        if column.task:
            table = _task_parts(results, column.label, column.task)
        else:
            table = _group_parts(results, column.label, str(column.group), column.metric)
        if table.rows:
            tables.append(table)
    return tables


def _task_parts(results: Sequence[RunResults], label: str, task: str) -> BreakdownTable:
    rows, metrics, notes = [], dict[str, None](), set()
    entries = [(doc, doc.tasks.get(task)) for doc in results]
    for _, entry in entries:
        if entry is None:
            continue
        for values in entry.breakdown.values():
            metrics.update(dict.fromkeys(values))
        if note := entry.notes.get("breakdown_stderr"):
            notes.add(note)
    names = tuple(metrics)
    for doc, entry in entries:
        if entry is None:
            continue
        for part, values in entry.breakdown.items():
            intervals = entry.breakdown_ci95.get(part, {})
            cells = tuple(
                BreakdownCell(_number(values.get(m)), _interval(intervals.get(m))) for m in names
            )
            rows.append(BreakdownRow(doc.model.name, str(part), cells))
    return BreakdownTable(f"{label} ({task})", names, tuple(rows), "; ".join(sorted(notes)) or None)


def _group_parts(
    results: Sequence[RunResults], label: str, group: str, metric: str
) -> BreakdownTable:
    rows = []
    for doc in results:
        members = doc.groups[group].tasks if group in doc.groups else ()
        for task in members:
            entry = doc.tasks.get(task)
            if entry is None:
                continue
            cell = BreakdownCell(_number(entry.metrics.get(metric)), read_interval(entry, metric))
            rows.append(BreakdownRow(doc.model.name, task, (cell,)))
    return BreakdownTable(f"{label} ({group})", (metric,), tuple(rows))


def render_breakdowns_markdown(tables: Sequence[BreakdownTable], *, ci: bool = False) -> str:
    """Each table under its own heading: model, part, then one column per metric."""
    blocks = []
    for table in tables:
        head = f"| model | part | {' | '.join(table.metrics)} |"
        rule = "|---|---|" + "---:|" * len(table.metrics)
        lines = [f"### {table.label}: breakdown", "", head, rule]
        lines += [
            f"| {row.model} | {row.part} | "
            + " | ".join(format_breakdown_cell(c, ci=ci) for c in row.cells)
            + " |"
            for row in table.rows
        ]
        if ci and table.note:
            lines += ["", f"No interval: {table.note}."]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def format_breakdown_cell(cell: BreakdownCell, *, ci: bool) -> str:
    """`value`, or with `ci` `value [lo, hi]` (no brackets where no interval exists)."""
    text = format_value(cell.value)
    if ci and cell.interval is not None and cell.value is not None:
        text += f" [{format_value(cell.interval[0])}, {format_value(cell.interval[1])}]"
    return text


def _interval(recorded: Any) -> Interval:
    if not recorded or recorded[0] is None or recorded[1] is None:
        return None
    return float(recorded[0]), float(recorded[1])


def _number(value: Any) -> float | None:
    return None if value is None else float(value)
