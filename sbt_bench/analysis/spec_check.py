"""A leaderboard spec YAML checked field by field, then against the results it tabulates.

Declared with pydantic: a string where the column list belongs, an unknown key or a column
with both or neither of task and group give one line naming the file and field. A column
naming a task or group that neither sbt-bench nor any result knows, or a metric no result
of its task records, is one line too, instead of a column of dashes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sbt_bench.core.errors import SbtError, suggest
from sbt_bench.core.validation import one_line_error
from sbt_bench.results.schema import RunResults
from sbt_bench.tasks import GROUPS, TASKS


class ColumnModel(BaseModel):
    """One column of a leaderboard spec: a task's metric or a group's mean."""

    model_config = ConfigDict(extra="forbid", strict=True)

    label: str = Field(min_length=1)
    metric: str = Field(min_length=1)
    task: str | None = None
    group: str | None = None

    @model_validator(mode="after")
    def _names_exist(self) -> ColumnModel:
        if (self.task is None) == (self.group is None):
            msg = "needs exactly one of task, group"
            raise ValueError(msg)
        return self


class SpecModel(BaseModel):
    """A leaderboard spec file."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1)
    description: str
    columns: list[ColumnModel] = Field(min_length=1)
    sort_by: str | None = None
    models: list[str] | None = None

    @model_validator(mode="after")
    def _sort_column_exists(self) -> SpecModel:
        labels = [c.label for c in self.columns]
        if self.sort_by is not None and self.sort_by not in labels:
            msg = f"sort_by {self.sort_by!r} is no column label; allowed: {', '.join(labels)}"
            raise ValueError(msg)
        return self


def check_spec(path: Path, data: dict[str, Any]) -> SpecModel:
    """The spec's YAML mapping validated, or a one-line SbtError naming the file and field."""
    try:
        return SpecModel.model_validate(data)
    except ValidationError as err:
        raise one_line_error(
            err, lambda field: f"{path}: {field or 'spec'}", SpecModel.model_fields
        ) from None


def check_metrics_recorded(results: Sequence[RunResults], columns: Sequence[Any]) -> None:
    """Refuse a column whose metric no result of its task (or group) records.

    A model that never ran a task shows a dash; a metric name that no run of the task ever
    reported is a typo in the spec, and a column of dashes would hide it.
    """
    for column in columns:
        section, name = ("tasks", column.task) if column.task else ("groups", column.group)
        entries = [getattr(doc, section)[name] for doc in results if name in getattr(doc, section)]
        known = TASKS if section == "tasks" else GROUPS
        if not entries and name not in known:
            # A user task is known to the results that hold it; a typo to nothing at all.
            kind = section[:-1]
            raise SbtError(
                f"leaderboard column {column.label!r}: unknown {kind} {name!r} (no results "
                f"hold it and sbt-bench defines none).{suggest(name, known.names())}"
            )
        recorded = sorted({m for entry in entries for m in entry.metrics})
        if recorded and column.metric not in recorded:
            raise SbtError(
                f"leaderboard column {column.label!r}: metric {column.metric!r} is not "
                f"recorded for {section}.{name}.{suggest(column.metric, recorded)} "
                f"Recorded: {', '.join(recorded)}"
            )
