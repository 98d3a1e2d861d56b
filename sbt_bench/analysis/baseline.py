"""Leaderboard rows as differences against a base model, paired on items, Holm-corrected.

`sbt-bench leaderboard --base M` and the report page show, for every other model and
column, `other - M` with its 95% CI, marked where it is significant after Holm's
correction across that model's columns: as better or as worse than the base by the
metric's declared direction (a rise in a CIDEr drop is worse), and not at all for a
metric without one (yes_ratio). Differences are paired on item ids read from
`samples_<task>.jsonl`, never computed across different item sets: a column whose runs
scored different items, or that has no per-item scores, shows the raw difference marked
as not tested.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from sbt_bench.analysis.leaderboard import (
    PARTIAL_LEGEND,
    PARTIAL_MARK,
    CellStats,
    LeaderboardColumn,
    LeaderboardSpec,
    Table,
    column_direction,
    describe_partial,
    find_results,
    format_cell,
    format_value,
    lookup_value,
    table_cells,
)
from sbt_bench.analysis.pairing import RunFolder, TaskComparison, compare_runs, load_run
from sbt_bench.core.errors import SbtError
from sbt_bench.metrics.combined import mean_of_comparisons
from sbt_bench.metrics.directions import HigherIsBetter, Verdict, judge_difference
from sbt_bench.metrics.paired import PairedComparison, adjust_holm
from sbt_bench.results.schema import RunResults
from sbt_bench.tasks import GROUPS

ALPHA = 0.05
SIGNIFICANT_MARK = "*"
"""Significantly better than the base."""
REGRESSION_MARK = "!"
"""Significantly worse than the base."""
UNTESTED_MARK = "\u2021"


@dataclass(frozen=True)
class CellDifference:
    """One column of one model against the base.

    `comparison` is the paired test (None when the column could not be paired, `reason`
    says why); `raw` is the plain difference of the two headline numbers, shown either way.
    `higher_is_better` is the column metric's declared direction.
    """

    label: str
    raw: float | None
    comparison: PairedComparison | None = None
    reason: str = ""
    higher_is_better: HigherIsBetter = None

    @property
    def significant(self) -> bool:
        """Whether the Holm-adjusted p is below ALPHA."""
        return self.comparison is not None and self.comparison.p_holm < ALPHA

    @property
    def verdict(self) -> Verdict | None:
        """Significantly "better" or "worse" than the base; None otherwise or undirected."""
        if self.comparison is None:
            return None
        return judge_difference(
            self.comparison.difference,
            higher_is_better=self.higher_is_better,
            significant=self.significant,
        )


def difference_mark(cell: CellDifference) -> str:
    """The mark after a difference: better, worse, not tested, or none."""
    if cell.comparison is None:
        return UNTESTED_MARK
    return {"better": SIGNIFICANT_MARK, "worse": REGRESSION_MARK, None: ""}[cell.verdict]


@dataclass(frozen=True)
class BaseComparison:
    """Every non-base model's columns against the base, in leaderboard column order.

    `tasks` holds, per model, the task comparisons the cells came from (their flips too).
    """

    base: str
    labels: tuple[str, ...]
    rows: tuple[tuple[str, tuple[CellDifference, ...]], ...]
    tasks: tuple[tuple[str, tuple[TaskComparison, ...]], ...] = ()


def load_entries(paths: Sequence[str]) -> list[RunFolder]:
    """Every results folder under `paths`."""
    return [load_run(p.parent) for p in find_results(paths)]


def compare_to_base(
    runs: Sequence[RunFolder], spec: LeaderboardSpec, base: str, *, seed: int = 0
) -> BaseComparison:
    """Each other model's columns against `base`, Holm-corrected per model."""
    names = [r.model for r in runs]
    if base not in names:
        raise SbtError(f"--base {base!r} is not among the results; models: {names}")
    base_run = runs[names.index(base)]
    needed = [t for t in column_tasks(spec) if t in base_run.results.tasks]
    rows, tasks = [], []
    for run in runs:
        if run.model == base:
            continue
        compared = compare_runs(base_run, run, needed, strict=False, seed=seed).tasks
        by_task = {t.task: t for t in compared}
        cells = [_cell(base_run, run, column, by_task) for column in spec.columns]
        rows.append((run.model, _holm(cells)))
        tasks.append((run.model, compared))
    return BaseComparison(base, tuple(c.label for c in spec.columns), tuple(rows), tuple(tasks))


def column_tasks(spec: LeaderboardSpec) -> list[str]:
    """The tasks behind the spec's columns (a group's members unfolded), without repeats."""
    names = [column.task or column.group or "" for column in spec.columns]
    return list(
        dict.fromkeys(t for n in names for t in (GROUPS.get(n).tasks if n in GROUPS else [n]))
    )


def _holm(cells: list[CellDifference]) -> tuple[CellDifference, ...]:
    """The cells with their comparisons' p-values Holm-adjusted together."""
    tested = [c.comparison for c in cells if c.comparison is not None]
    adjusted = iter(adjust_holm(tested))
    return tuple(
        c if c.comparison is None else replace(c, comparison=next(adjusted)) for c in cells
    )


def _cell(
    base: RunFolder,
    other: RunFolder,
    column: LeaderboardColumn,
    by_task: dict[str, TaskComparison],
) -> CellDifference:
    raw = _difference(lookup_value(base.results, column), lookup_value(other.results, column))
    direction = column_direction(column, (base.results, other.results))
    members = _group_tasks(base.results, column) if column.group else [column.task or ""]
    found: list[PairedComparison] = []
    for task in members:
        paired = _task_row(by_task.get(task), task, column.metric)
        if isinstance(paired, str):
            return CellDifference(column.label, raw, reason=paired, higher_is_better=direction)
        found.append(paired)
    if not found:
        reason = f"{column.group}: no member tasks"
        return CellDifference(column.label, raw, reason=reason, higher_is_better=direction)
    comparison = found[0] if column.task else mean_of_comparisons(column.metric, found)
    return CellDifference(column.label, raw, comparison, higher_is_better=direction)


def _task_row(compared: TaskComparison | None, task: str, metric: str) -> PairedComparison | str:
    """The paired comparison of one task's metric, or why there is none."""
    if compared is None:
        return f"{task}: not in the base's results"
    if compared.refused is not None:
        return compared.refused
    row = next((r for r in compared.rows if r.metric == metric), None)
    return row if row is not None else f"{task}: no paired {metric!r}"


def _group_tasks(doc: RunResults, column: LeaderboardColumn) -> list[str]:
    group = doc.groups.get(column.group or "")
    return [] if group is None else list(group.tasks)


def _difference(base: float | None, other: float | None) -> float | None:
    if base is None or other is None or math.isnan(base) or math.isnan(other):
        return None
    return other - base


def render_base_markdown(table: Table, comparison: BaseComparison, *, ci: bool = False) -> str:
    """The base model's row as values, every other row as signed differences from it.

    A Holm-significant difference carries SIGNIFICANT_MARK when better than the base and
    REGRESSION_MARK when worse (by the metric's direction; none for a metric without one),
    UNTESTED_MARK when it could not be paired (why is listed below), and with `ci` its 95%
    interval.
    """
    lines = [
        "| " + " | ".join(table.headers) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(table.headers) - 1)) + "|",
    ]
    rows = dict(zip((model for model, _ in table.rows), table_cells(table), strict=True))
    values = dict(table.rows)
    base_cells = [
        format_cell(v, s, ci=ci)
        for v, s in zip(values[comparison.base], rows[comparison.base], strict=True)
    ]
    lines.append("| " + " | ".join([f"{comparison.base} (base)", *base_cells]) + " |")
    for model, cells in comparison.rows:
        shown = [_format_difference(c, s, ci=ci) for c, s in zip(cells, rows[model], strict=True)]
        lines.append("| " + " | ".join([model, *shown]) + " |")
    lines.append(
        f"\nRows below the base show the difference from {comparison.base}, paired on item "
        f"ids; {SIGNIFICANT_MARK} better, {REGRESSION_MARK} worse than the base at p < {ALPHA} "
        "after Holm's correction across the row's columns (by each metric's direction: a "
        "metric without one, like yes_ratio, is never marked)."
    )
    if untested := describe_untested(comparison):
        lines.append(f"\n{UNTESTED_MARK} not tested: {untested}.")
    if partial := describe_partial(table):
        lines.append(f"\n{PARTIAL_MARK} {PARTIAL_LEGEND}: {partial}.")
    return "\n".join(lines) + "\n"


def render_base_csv(table: Table, comparison: BaseComparison) -> str:
    """CSV: the base row's values, other rows' differences, then `p_holm:`/`lo:`/`hi:` columns."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    extra = [f"{key}:{label}" for label in comparison.labels for key in ("p_holm", "lo", "hi")]
    writer.writerow([*table.headers, *extra])
    base_values = dict(table.rows)[comparison.base]
    writer.writerow([comparison.base, *(_csv_number(v) for v in base_values), *[""] * len(extra)])
    for model, cells in comparison.rows:
        stats = [
            _csv_number(None if c.comparison is None else x)
            for c in cells
            for x in _test_numbers(c.comparison)
        ]
        writer.writerow([model, *(_csv_number(c.raw) for c in cells), *stats])
    return out.getvalue()


def describe_untested(comparison: BaseComparison) -> str:
    """`model: column (why)` for every difference that could not be paired."""
    return "; ".join(
        f"{model}: {cell.label} ({cell.reason})"
        for model, cells in comparison.rows
        for cell in cells
        if cell.comparison is None and cell.raw is not None
    )


def _format_difference(cell: CellDifference, stats: CellStats, *, ci: bool) -> str:
    if cell.raw is None:
        return format_value(None)
    text = (
        format_value(cell.raw, signed=True) + difference_mark(cell) + PARTIAL_MARK * stats.partial
    )
    if ci and cell.comparison is not None:
        low, high = cell.comparison.ci_low, cell.comparison.ci_high
        text += f" [{format_value(low, signed=True)}, {format_value(high, signed=True)}]"
    return text


def _test_numbers(comparison: PairedComparison | None) -> tuple[float | None, ...]:
    if comparison is None:
        return (None, None, None)
    return (comparison.p_holm, comparison.ci_low, comparison.ci_high)


def _csv_number(value: float | None) -> str:
    return "" if value is None else repr(value)
