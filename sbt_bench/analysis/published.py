"""Published numbers beside measured ones: a leaderboard spec's `published:` rows.

    published:
      - model: "LLaVA (LLaMA2-7B, visual instruction tuned)"   # as the source names it
        measured_model: llava-llama2-7b                         # the results' model name
        metric: "TruthfulQA mc2"                                # a column label of the spec
        value: 0.460                                            # in the column's unit
        source: {paper: "Sight Beyond Text (arXiv 2309.07120)", table: "1", page: "5"}

Each row is shown with the measured value, its 95% CI, and whether the published value
lies inside that interval (a published number outside it is one the run did not
reproduce at this item count).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sbt_bench.core.errors import SbtError

SOURCE_KEYS = ("paper", "table", "page")


@dataclass(frozen=True)
class PublishedRow:
    """A number a source reports for a model on one leaderboard column."""

    model: str
    metric: str
    value: float
    source: Mapping[str, str]
    measured_model: str | None = None

    @property
    def results_model(self) -> str:
        """The model name the measured results carry."""
        return self.measured_model or self.model

    def citation(self) -> str:
        """`paper, table T, p. P` as far as the source gives them."""
        parts = [self.source.get("paper", "")]
        if table := self.source.get("table"):
            parts.append(f"table {table}")
        if page := self.source.get("page"):
            parts.append(f"p. {page}")
        return ", ".join(p for p in parts if p)


@dataclass(frozen=True)
class PublishedComparison:
    """A published row with the measured value and interval (None: not measured)."""

    row: PublishedRow
    measured: float | None
    interval: tuple[float, float] | None

    @property
    def inside(self) -> bool | None:
        """Whether the published value lies in the measured 95% CI (None: no CI)."""
        if self.interval is None:
            return None
        return self.interval[0] <= self.row.value <= self.interval[1]


def parse_published(raw: Any, columns: Sequence[str], path: Path) -> tuple[PublishedRow, ...]:
    """The spec's `published:` rows, each checked; a bad row is one line naming it."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise SbtError(f"{path}: field 'published' must be a list of rows")
    rows = []
    for i, item in enumerate(raw):
        where = f"{path}: published row {i + 1}"
        if not isinstance(item, dict):
            raise SbtError(f"{where} must be a mapping with model, metric, value, source")
        metric = str(item.get("metric"))
        if metric not in columns:
            raise SbtError(
                f"{where}: metric {metric!r} is not a column of this leaderboard; "
                f"use a column label: {list(columns)}"
            )
        source = item.get("source")
        if not isinstance(source, dict) or not source.get("paper"):
            raise SbtError(f"{where}: field 'source' needs at least 'paper' (and table, page)")
        unknown = sorted(set(source) - set(SOURCE_KEYS))
        if unknown:
            raise SbtError(f"{where}: source keys {unknown} unknown; use {list(SOURCE_KEYS)}")
        try:
            value = float(item["value"])
            model = str(item["model"])
        except (KeyError, TypeError, ValueError):
            raise SbtError(f"{where}: needs a model and a numeric value") from None
        measured = item.get("measured_model")
        rows.append(
            PublishedRow(
                model, metric, value, {k: str(v) for k, v in source.items()},
                None if measured is None else str(measured),
            )
        )  # fmt: skip
    return tuple(rows)


def compare_published(
    rows: Sequence[PublishedRow],
    headers: Sequence[str],
    table_rows: Sequence[tuple[str, Sequence[float | None]]],
    intervals: Sequence[Sequence[tuple[float, float] | None]],
) -> list[PublishedComparison]:
    """Each published row with the measured value and CI of its model and column."""
    models = [model for model, _ in table_rows]
    out = []
    for row in rows:
        if row.metric not in headers:  # a column no model has a value for (the report drops it)
            out.append(PublishedComparison(row, None, None))
            continue
        j = list(headers).index(row.metric)
        if row.results_model in models:
            i = models.index(row.results_model)
            out.append(PublishedComparison(row, table_rows[i][1][j], intervals[i][j]))
        else:
            out.append(PublishedComparison(row, None, None))
    return out


def render_published_markdown(comparisons: Sequence[PublishedComparison]) -> str:
    """The published-vs-measured table (empty text when the spec has no rows)."""
    if not comparisons:
        return ""
    lines = [
        "### Published vs measured",
        "",
        "| model | column | published | measured [95% CI] | published inside CI | source |",
        "|---|---|---:|---:|---|---|",
    ]
    lines += [
        f"| {c.row.model} | {c.row.metric} | {c.row.value:.4f} | {measured_text(c)} | "
        f"{inside_text(c)} | {c.row.citation()} |"
        for c in comparisons
    ]
    return "\n".join(lines) + "\n"


def measured_text(c: PublishedComparison) -> str:
    """`value [lo, hi]`, or `not measured`."""
    if c.measured is None:
        return f"not measured ({c.row.results_model} not in the results)"
    if c.interval is None:
        return f"{c.measured:.4f}"
    return f"{c.measured:.4f} [{c.interval[0]:.4f}, {c.interval[1]:.4f}]"


def inside_text(c: PublishedComparison) -> str:
    """`yes`, `no`, or `-` where there is no interval."""
    return {True: "yes", False: "no", None: "-"}[c.inside]
