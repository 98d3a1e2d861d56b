"""Build models x tasks tables from results.json files, with columns declared in YAML."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sbt_bench.errors import SbtError
from sbt_bench.files import find_bundled_dir, read_yaml
from sbt_bench.results import read_results
from sbt_bench.scoring_protocols import comparable


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


@dataclass(frozen=True)
class Table:
    """Rendered-ready rows; None marks a score the model has no result for.

    `protocols` holds, per row, the protocol that produced each value (None: not recorded);
    `mixed` names the columns whose values come from different protocols, which are not
    comparable and are marked as such when rendered.
    """

    headers: tuple[str, ...]
    rows: tuple[tuple[str, tuple[float | None, ...]], ...]
    protocols: tuple[tuple[str | None, ...], ...] = ()
    mixed: tuple[str, ...] = ()


def load_leaderboard_spec(name_or_path: str) -> LeaderboardSpec:
    """A spec by file path, or by name from the shipped `leaderboards/` folder."""
    path = Path(name_or_path)
    if not path.is_file():
        path = find_bundled_dir("leaderboards") / f"{name_or_path}.yaml"
    if not path.is_file():
        shipped = sorted(p.stem for p in find_bundled_dir("leaderboards").glob("*.yaml"))
        raise SbtError(f"no leaderboard spec {name_or_path!r}; shipped: {shipped}")
    data = read_yaml(path)
    try:
        columns = tuple(LeaderboardColumn(**c) for c in data.pop("columns"))
        spec = LeaderboardSpec(columns=columns, **data)
    except (KeyError, TypeError) as err:
        raise SbtError(f"{path}: malformed leaderboard spec ({err})") from None
    for column in spec.columns:
        if (column.task is None) == (column.group is None):
            raise SbtError(f"{path}: column {column.label!r} needs exactly one of task, group")
    return spec


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


def build_table(results: Sequence[dict[str, Any]], spec: LeaderboardSpec) -> Table:
    """One row per model, one column per spec column; rows sorted by `sort_by`, best first."""
    rows = []
    for doc in results:
        values = tuple(_lookup(doc, column) for column in spec.columns)
        used = tuple(_protocol(doc, column) for column in spec.columns)
        rows.append((str(doc["model"]["name"]), values, used))
    labels = [c.label for c in spec.columns]
    if spec.sort_by in labels:
        col = labels.index(spec.sort_by)
        rows.sort(key=lambda row: -math.inf if row[1][col] is None else -row[1][col])  # type: ignore[operator]
    mixed = tuple(
        label
        for j, label in enumerate(labels)
        if not comparable(row[2][j] for row in rows if row[1][j] is not None)
    )
    return Table(
        headers=("model", *labels),
        rows=tuple((name, values) for name, values, _ in rows),
        protocols=tuple(used for _, _, used in rows),
        mixed=mixed,
    )


def leaderboard(paths: Sequence[str], spec_name: str) -> Table:
    """Read every results file under `paths` and tabulate them with the named spec."""
    spec = load_leaderboard_spec(spec_name)
    return build_table([read_results(p) for p in find_results(paths)], spec)


def render_markdown(table: Table) -> str:
    """A GitHub-flavoured markdown table; missing scores show as '-'."""
    lines = [
        "| " + " | ".join(table.headers) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(table.headers) - 1)) + "|",
    ]
    for (model, values), cells in zip(table.rows, _marked_protocols(table), strict=True):
        shown = [
            format_value(v) + (f" [{p}]" if p and v is not None else "")
            for v, p in zip(values, cells, strict=True)
        ]
        lines.append("| " + " | ".join([model, *shown]) + " |")
    lines += [
        f"\nNot comparable: {label!r} mixes multiple-choice protocols (marked per cell); "
        "see the README on `mc_protocol`."
        for label in table.mixed
    ]
    return "\n".join(lines) + "\n"


def render_csv(table: Table) -> str:
    """CSV with full-precision values and empty cells for missing scores."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    # Columns mixing protocols get a protocol column each, appended after the values.
    mixed = [table.headers.index(label) - 1 for label in table.mixed]
    writer.writerow([*table.headers, *(f"protocol:{table.headers[j + 1]}" for j in mixed)])
    for (model, values), cells in zip(table.rows, _marked_protocols(table), strict=True):
        scores = ["" if v is None else repr(v) for v in values]
        writer.writerow([model, *scores, *(cells[j] or "" for j in mixed)])
    return out.getvalue()


def _marked_protocols(table: Table) -> list[tuple[str | None, ...]]:
    """Per row, the protocol of each cell in a mixed column (None elsewhere)."""
    labels = table.headers[1:]
    protocols = table.protocols or tuple((None,) * len(labels) for _ in table.rows)
    return [
        tuple(p if label in table.mixed else None for label, p in zip(labels, row, strict=True))
        for row in protocols
    ]


def _protocol(doc: dict[str, Any], column: LeaderboardColumn) -> str | None:
    """The recorded protocol of a task, or of a group's member tasks when they agree."""
    tasks = doc.get("tasks", {})
    if column.task:
        protocol = tasks.get(column.task, {}).get("protocol")
        return None if protocol is None else str(protocol)
    members = doc.get("groups", {}).get(column.group, {}).get("tasks", [])
    found = {tasks.get(t, {}).get("protocol") for t in members} - {None}
    if len(found) > 1:
        return "mixed"
    return next(iter(found), None)


def _lookup(doc: dict[str, Any], column: LeaderboardColumn) -> float | None:
    section, name = ("tasks", column.task) if column.task else ("groups", column.group)
    value = doc.get(section, {}).get(name, {}).get("metrics", {}).get(column.metric)
    return None if value is None else float(value)


def format_value(value: float | None, *, signed: bool = False) -> str:
    """Four decimals; '-' for a missing or undefined number (None, or NaN in memory)."""
    if value is None or math.isnan(value):
        return "-"
    return f"{value:+.4f}" if signed else f"{value:.4f}"
