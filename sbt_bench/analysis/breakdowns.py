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


def build_breakdowns(
    results: Sequence[dict[str, Any]], spec: LeaderboardSpec
) -> list[BreakdownTable]:
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


def _task_parts(results: Sequence[dict[str, Any]], label: str, task: str) -> BreakdownTable:
    rows, metrics, notes = [], dict[str, None](), set()
    for doc in results:
        entry = doc.get("tasks", {}).get(task, {})
        for values in entry.get("breakdown", {}).values():
            metrics.update(dict.fromkeys(values))
        if note := entry.get("notes", {}).get("breakdown_stderr"):
            notes.add(str(note))
    names = tuple(metrics)
    for doc in results:
        entry = doc.get("tasks", {}).get(task, {})
        intervals = entry.get("breakdown_ci95", {})
        for part, values in entry.get("breakdown", {}).items():
            cells = tuple(
                BreakdownCell(_number(values.get(m)), _interval(intervals.get(part, {}).get(m)))
                for m in names
            )
            rows.append(BreakdownRow(_model(doc), str(part), cells))
    return BreakdownTable(f"{label} ({task})", names, tuple(rows), "; ".join(sorted(notes)) or None)


def _group_parts(
    results: Sequence[dict[str, Any]], label: str, group: str, metric: str
) -> BreakdownTable:
    rows = []
    for doc in results:
        tasks = doc.get("tasks", {})
        for task in doc.get("groups", {}).get(group, {}).get("tasks", []):
            entry = tasks.get(task, {})
            value = _number(entry.get("metrics", {}).get(metric))
            rows.append(
                BreakdownRow(
                    _model(doc), task, (BreakdownCell(value, read_interval(entry, metric)),)
                )
            )
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
    if not recorded or None in recorded:
        return None
    return float(recorded[0]), float(recorded[1])


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _model(doc: dict[str, Any]) -> str:
    return str(doc.get("model", {}).get("name", "?"))
