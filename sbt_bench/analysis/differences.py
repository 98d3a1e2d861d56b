"""Per-task differences between models (a text-only model vs its vision-enabled sibling).

`sbt-bench run --compare <leaderboard spec> --models A,B` runs the spec's tasks on both
models and prints, per column, B - A. A difference between numbers from different
protocols (log-likelihood vs letters) is shown but marked not comparable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sbt_bench.analysis.leaderboard import LeaderboardSpec, build_table, format_value
from sbt_bench.core.protocols import comparable
from sbt_bench.results.schema import RunResults


@dataclass(frozen=True)
class Difference:
    """One column of one model against the baseline (the first model)."""

    label: str
    baseline: float | None
    other: float | None
    protocols: tuple[str | None, str | None]

    @property
    def delta(self) -> float | None:
        """The other model's value minus the baseline's, or None when either is missing."""
        if self.baseline is None or self.other is None:
            return None
        return self.other - self.baseline

    @property
    def comparable(self) -> bool:
        """Whether both numbers come from the same protocol."""
        return comparable(self.protocols)


def spec_tasks(spec: LeaderboardSpec) -> list[str]:
    """Task and group names the spec's columns need, in column order, without repeats."""
    names = [column.task or column.group for column in spec.columns]
    return list(dict.fromkeys(n for n in names if n))


def differences(docs: Sequence[RunResults], spec: LeaderboardSpec) -> list[Difference]:
    """Every column of the second results document against the first."""
    if len(docs) != 2:  # noqa: PLR2004 - a comparison is of exactly two models
        raise ValueError("a comparison needs exactly two models")
    table = build_table(docs, LeaderboardSpec(spec.name, spec.description, spec.columns))
    (_, base), (_, other) = table.rows
    base_protocols, other_protocols = table.protocols
    labels = table.headers[1:]
    return [
        Difference(label, base[j], other[j], (base_protocols[j], other_protocols[j]))
        for j, label in enumerate(labels)
    ]


def render_differences(names: tuple[str, str], rows: Sequence[Difference]) -> str:
    """A markdown table: column | baseline | other | other - baseline | comparable."""
    base, other = names
    lines = [
        f"| column | {base} | {other} | difference | comparable |",
        "|---|---:|---:|---:|---|",
    ]
    for row in rows:
        note = "yes" if row.comparable else f"no ({row.protocols[0]} vs {row.protocols[1]})"
        lines.append(
            f"| {row.label} | {format_value(row.baseline)} | {format_value(row.other)} | "
            f"{format_value(row.delta, signed=True)} | {note} |"
        )
    return "\n".join(lines) + "\n"
