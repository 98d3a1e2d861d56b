"""Build models x tasks tables from results.json files, with columns declared in YAML."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from sbt_bench.analysis.published import PublishedRow, parse_published
from sbt_bench.analysis.spec_check import check_metrics_recorded, check_spec
from sbt_bench.core.errors import SbtError
from sbt_bench.core.files import find_bundled_dir, read_yaml
from sbt_bench.core.prompt_settings import describe_applied
from sbt_bench.core.protocols import comparable
from sbt_bench.metrics.directions import HigherIsBetter
from sbt_bench.results.schema import GroupResult, RunResults, TaskResult
from sbt_bench.tasks.directions import ITEM_WEIGHTED, metric_direction

# A cell computed from fewer items than the full task, and what the mark means.
PARTIAL_MARK = "\u2020"
PARTIAL_LEGEND = (
    "computed from fewer items than the full task (--limit, or a different item count); "
    "not comparable with unmarked cells"
)
Z_95 = 1.959963984540054  # two-sided 95% normal quantile, for CIs read back from a stderr


@dataclass(frozen=True)
class LeaderboardColumn:
    """One column: the headline `metric` of a task (or a group's mean), under `label`."""

    label: str
    metric: str
    task: str | None = None
    group: str | None = None


@dataclass(frozen=True)
class LeaderboardSpec:
    """A leaderboard: its columns in order, and the column rows are sorted by."""

    name: str
    description: str
    columns: tuple[LeaderboardColumn, ...]
    sort_by: str | None = None
    models: tuple[str, ...] = ()
    """Model specs `run --leaderboard <spec>` runs when no --models are given."""
    published: tuple[PublishedRow, ...] = ()
    """Numbers a paper reports, shown beside the measured ones (`analysis.published`)."""


@dataclass(frozen=True)
class CellStats:
    """What a cell's number rests on: its 95% CI and the items it was computed from.

    `n` and `n_available` are item counts (summed over a group's subtasks; None where the
    results do not record them); `partial` marks a cell computed from fewer items than the
    full task or than another row of its column, which must not be ranked with full runs.
    """

    interval: tuple[float, float] | None = None
    n: int | None = None
    n_available: int | None = None
    partial: bool = False


@dataclass(frozen=True)
class Table:
    """Rendered-ready rows; None marks a score the model has no result for.

    `protocols` holds, per row, the protocol that produced each value (None: not recorded);
    `mixed` names the columns whose values come from different protocols, which are not
    comparable and are marked as such when rendered. `cells` holds each value's CellStats.
    """

    headers: tuple[str, ...]
    rows: tuple[tuple[str, tuple[float | None, ...]], ...]
    protocols: tuple[tuple[str | None, ...], ...] = ()
    mixed: tuple[str, ...] = ()
    cells: tuple[tuple[CellStats, ...], ...] = ()


def load_leaderboard_spec(name_or_path: str) -> LeaderboardSpec:
    """A spec by file path, or by name from the shipped `leaderboards/` folder."""
    path = Path(name_or_path)
    if not path.is_file():
        path = find_bundled_dir("leaderboards") / f"{name_or_path}.yaml"
    if not path.is_file():
        shipped = sorted(p.stem for p in find_bundled_dir("leaderboards").glob("*.yaml"))
        raise SbtError(f"no leaderboard spec {name_or_path!r}; shipped: {shipped}")
    data = read_yaml(path)
    raw_published = data.pop("published", None)
    checked = check_spec(path, data)
    columns = tuple(LeaderboardColumn(**c.model_dump()) for c in checked.columns)
    spec = LeaderboardSpec(
        name=checked.name,
        description=checked.description,
        columns=columns,
        sort_by=checked.sort_by,
        models=tuple(checked.models or ()),
    )
    labels = [c.label for c in columns]
    return replace(spec, published=parse_published(raw_published, labels, path))


def find_results(paths: Sequence[str]) -> list[Path]:
    """results.json files: given directly, in a model folder, or one level below an output dir."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            found.append(path)
        elif (path / "results.json").is_file():
            found.append(path / "results.json")
        elif path.is_dir() and sorted(path.glob("*/results.json")):
            found += sorted(path.glob("*/results.json"))
        else:
            raise SbtError(f"no results.json in {path}; give a results file or an --output-dir")
    return found


def build_table(results: Sequence[RunResults], spec: LeaderboardSpec) -> Table:
    """One row per model, one column per spec column; rows sorted by `sort_by`, best first.

    Best is the metric's direction (`column_direction`, as the files record it): largest first for
    accuracy, smallest first for a CIDEr drop; a metric with no direction (yes_ratio)
    leaves the rows in the order given.
    """
    refuse_mixed_settings(results, spec)
    check_metrics_recorded(results, spec.columns)
    rows = []
    for doc in results:
        values = tuple(lookup_value(doc, column) for column in spec.columns)
        used = tuple(_protocol(doc, column) for column in spec.columns)
        stats = tuple(_cell_stats(doc, column) for column in spec.columns)
        rows.append((doc.model.name, values, used, stats))
    labels = [c.label for c in spec.columns]
    if spec.sort_by in labels:
        col = labels.index(spec.sort_by)
        direction = column_direction(spec.columns[col], results)
        if direction is not None:
            sign = -1.0 if direction else 1.0
            rows.sort(key=lambda row: -math.inf if row[1][col] is None else sign * row[1][col])  # type: ignore[operator]
    mixed = tuple(
        label
        for j, label in enumerate(labels)
        if not comparable(row[2][j] for row in rows if row[1][j] is not None)
    )
    return Table(
        headers=("model", *labels),
        rows=tuple((name, values) for name, values, _, _ in rows),
        protocols=tuple(used for _, _, used, _ in rows),
        mixed=mixed,
        cells=_mark_partial([row[3] for row in rows]),
    )


def column_direction(
    column: LeaderboardColumn, results: Sequence[RunResults] = ()
) -> HigherIsBetter:
    """Which way the column's metric is better (None: no direction, e.g. yes_ratio).

    The direction `results` record for it comes first (a user task's metric is declared
    only in the run that wrote it); else the metric's declared one in the bundled tasks.
    A group's column goes the way of its first member task's metric.
    """
    for doc in results:
        if column.task:
            task, metric = column.task, column.metric
        else:
            group = doc.groups.get(column.group or "")
            if group is None or not group.tasks:
                continue
            task, metric = group.tasks[0], column.metric.removesuffix(ITEM_WEIGHTED)
        entry = doc.tasks.get(task)
        if entry is not None and metric in entry.directions:
            return entry.directions[metric]
    return metric_direction(column.task or column.group or "", column.metric)


def render_markdown(table: Table, *, ci: bool = False) -> str:
    """A GitHub-flavoured markdown table; missing scores show as '-'.

    With `ci`, each value is followed by its 95% interval as `[lo, hi]` (intervals need
    not be symmetric: bootstrap CIs of corpus-level metrics are not). A value computed
    from fewer items than the full task carries `PARTIAL_MARK`, explained below the table.
    """
    lines = [
        "| " + " | ".join(table.headers) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(table.headers) - 1)) + "|",
    ]
    for (model, values), protocols, stats in zip(
        table.rows, _marked_protocols(table), table_cells(table), strict=True
    ):
        shown = [
            format_cell(v, s, ci=ci) + (f" [{p}]" if p and v is not None else "")
            for v, p, s in zip(values, protocols, stats, strict=True)
        ]
        lines.append("| " + " | ".join([model, *shown]) + " |")
    if partial := describe_partial(table):
        lines.append(f"\n{PARTIAL_MARK} {PARTIAL_LEGEND}: {partial}.")
    lines += [
        f"\nNot comparable: {label!r} mixes multiple-choice protocols (marked per cell); "
        "see the README on `mc_protocol`."
        for label in table.mixed
    ]
    return "\n".join(lines) + "\n"


def render_csv(table: Table, *, ci: bool = False) -> str:
    """CSV with full-precision values and empty cells for missing scores.

    Extra columns follow the values: `protocol:<label>` for columns mixing protocols,
    `n:<label>` for columns holding a partial cell, and with `ci` `lo:<label>, hi:<label>`.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    labels = table.headers[1:]
    mixed = [labels.index(label) for label in table.mixed]
    cells = table_cells(table)
    partial = [j for j in range(len(labels)) if any(row[j].partial for row in cells)]
    writer.writerow(
        [
            *table.headers,
            *(f"protocol:{labels[j]}" for j in mixed),
            *(f"n:{labels[j]}" for j in partial),
            *(f"{end}:{label}" for label in (labels if ci else ()) for end in ("lo", "hi")),
        ]
    )
    for (model, values), protocols, stats in zip(
        table.rows, _marked_protocols(table), cells, strict=True
    ):
        scores = ["" if v is None else repr(v) for v in values]
        counts = ["" if stats[j].n is None else str(stats[j].n) for j in partial]
        bounds = [_csv_bound(s, end) for s in (stats if ci else ()) for end in (0, 1)]
        writer.writerow([model, *scores, *(protocols[j] or "" for j in mixed), *counts, *bounds])
    return out.getvalue()


def format_cell(value: float | None, stats: CellStats, *, ci: bool = False) -> str:
    """A value with its partial mark and, with `ci`, its interval: `0.5120 [0.4950, 0.5290]`."""
    text = format_value(value) + (PARTIAL_MARK if stats.partial and value is not None else "")
    if ci and value is not None and stats.interval is not None:
        lo, hi = stats.interval
        text += f" [{format_value(lo)}, {format_value(hi)}]"
    return text


def describe_partial(table: Table) -> str:
    """`model: column (n of N items); ...` for every partial cell, '' when there is none.

    A row whose every value is partial (a `--limit` run) is named once, with one example.
    """
    labels = table.headers[1:]
    parts = []
    for (model, values), row in zip(table.rows, table_cells(table), strict=True):
        cells = [
            (label, s) for label, s, v in zip(labels, row, values, strict=True) if v is not None
        ]
        marked = [f"{label} ({s.n} of {s.n_available} items)" for label, s in cells if s.partial]
        if marked and len(marked) == len(cells) > 1:
            parts.append(f"{model}: every column, e.g. {marked[0]}")
        else:
            parts += [f"{model}: {m}" for m in marked]
    return "; ".join(parts)


def _csv_bound(stats: CellStats, end: int) -> str:
    return "" if stats.interval is None else repr(stats.interval[end])


def table_cells(table: Table) -> tuple[tuple[CellStats, ...], ...]:
    """Per row, the table's CellStats (empty ones for a table built without them)."""
    return table.cells or tuple((CellStats(),) * (len(table.headers) - 1) for _ in table.rows)


def _entry(doc: RunResults, column: LeaderboardColumn) -> TaskResult | GroupResult | None:
    """The task or group entry a column reads (None where the model has none)."""
    if column.task:
        return doc.tasks.get(column.task)
    return doc.groups.get(column.group or "")


def _members(doc: RunResults, column: LeaderboardColumn) -> list[str]:
    """The tasks a column's number rests on: its task, or its group's recorded members."""
    if column.task:
        return [column.task]
    group = doc.groups.get(column.group or "")
    return [] if group is None else list(group.tasks)


def _cell_stats(doc: RunResults, column: LeaderboardColumn) -> CellStats:
    """A cell's CI and item counts (a group's counts are its subtasks' sums)."""
    entry = _entry(doc, column)
    members = [doc.tasks.get(t) for t in _members(doc, column)] if entry is not None else []
    counts = [(None, None) if m is None else (m.n_samples, m.n_available) for m in members]
    known = bool(counts) and all(n is not None and total is not None for n, total in counts)
    return CellStats(
        interval=None if entry is None else read_interval(entry, column.metric),
        n=sum(int(n or 0) for n, _ in counts) if known else None,
        n_available=sum(int(t or 0) for _, t in counts) if known else None,
    )


def read_interval(entry: TaskResult | GroupResult, metric: str) -> tuple[float, float] | None:
    """A metric's 95% CI from a results entry: its recorded `ci95`, else value +- 1.96 SE."""
    recorded = entry.ci95.get(metric)
    if recorded is not None and recorded[0] is not None and recorded[1] is not None:
        return float(recorded[0]), float(recorded[1])
    value = entry.metrics.get(metric)
    err = entry.stderr.get(metric)
    if value is None or err is None or not math.isfinite(err):
        return None
    return float(value) - Z_95 * float(err), float(value) + Z_95 * float(err)


def _mark_partial(rows: list[tuple[CellStats, ...]]) -> tuple[tuple[CellStats, ...], ...]:
    """Flag cells with fewer items than their task has, or than their column's fullest row."""
    if not rows:
        return ()
    columns = range(len(rows[0]))
    most = [max((n for r in rows if (n := r[j].n) is not None), default=0) for j in columns]
    return tuple(
        tuple(replace(s, partial=_is_partial(s, most[j])) for j, s in enumerate(row))
        for row in rows
    )


def _is_partial(stats: CellStats, most: int) -> bool:
    if stats.n is None:
        return False
    return stats.n < most or (stats.n_available is not None and stats.n < stats.n_available)


def _marked_protocols(table: Table) -> list[tuple[str | None, ...]]:
    """Per row, the protocol of each cell in a mixed column (None elsewhere)."""
    labels = table.headers[1:]
    protocols = table.protocols or tuple((None,) * len(labels) for _ in table.rows)
    return [
        tuple(p if label in table.mixed else None for label, p in zip(labels, row, strict=True))
        for row in protocols
    ]


def refuse_mixed_settings(results: Sequence[RunResults], spec: LeaderboardSpec) -> None:
    """Numbers made under different prompt settings (chat template, few-shot, ...) never mix.

    Unlike a protocol difference, which is marked per cell, a different prompt is a
    different measurement: a table of them would be read as a ranking.
    """
    for column in spec.columns:
        seen: dict[str, str] = {}
        for doc in results:
            for task in (t for t in _members(doc, column) if t in doc.tasks):
                seen.setdefault(describe_applied(doc.tasks[task].prompt), doc.model.name)
        if len(seen) > 1:
            (a, model_a), (b, model_b) = list(seen.items())[:2]
            raise SbtError(
                f"column {column.label!r} mixes prompt settings ({model_a}: {a}; {model_b}: {b}); "
                "rerun the models with the same settings"
            )


def _protocol(doc: RunResults, column: LeaderboardColumn) -> str | None:
    """The recorded protocol of a task, or of a group's member tasks when they agree."""
    if column.task:
        entry = doc.tasks.get(column.task)
        return None if entry is None else entry.protocol
    found = {doc.tasks[t].protocol for t in _members(doc, column) if t in doc.tasks} - {None}
    if len(found) > 1:
        return "mixed"
    return next(iter(found), None)


def lookup_value(doc: RunResults, column: LeaderboardColumn) -> float | None:
    """A column's headline number in a results document; None where it has none."""
    entry = _entry(doc, column)
    value = None if entry is None else entry.metrics.get(column.metric)
    return None if value is None else float(value)


def format_value(value: float | None, *, signed: bool = False) -> str:
    """Four decimals; '-' for a missing or undefined number (None, or NaN in memory)."""
    if value is None or math.isnan(value):
        return "-"
    return f"{value:+.4f}" if signed else f"{value:.4f}"
