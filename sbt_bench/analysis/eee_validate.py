"""Check written EEE records with the every-eval-ever package's own validator.

Imported only by the export (the package is the optional `export` extra): the pydantic
models of schema 0.3.0 and the datastore's semantic checks (path layout, the aggregate
and its samples file agreeing on ids and row counts) run on both files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from every_eval_ever.validator.validation_core import (  # type: ignore[import-untyped]
    validate_aggregate,
    validate_instance_file,
)

from sbt_bench.core.errors import SbtError


class Written(Protocol):
    """What the export wrote for one record: the aggregate and its samples file."""

    @property
    def aggregate(self) -> Path:
        """The aggregate record's path."""
        ...

    @property
    def samples(self) -> Path:
        """The instance-level JSONL's path."""
        ...


def validate_record(root: Path, record: Written) -> None:
    """Raise an SbtError naming the file and the first problem the validator reports."""
    paths = {p: p.relative_to(root).as_posix() for p in (record.aggregate, record.samples)}
    available = frozenset(paths.values())

    def read(relative: str) -> str:
        return (root / relative).read_text(encoding="utf-8")

    for path, validate in (
        (record.aggregate, validate_aggregate),
        (record.samples, validate_instance_file),
    ):
        report = validate(
            path,
            repo_path=paths[path],
            available_files=available,
            read_repo_file=read,
            run_semantic_checks=True,
        )
        if not report.valid:
            first = report.errors[0]
            raise SbtError(
                f"{path}: every-eval-ever rejects the record at {first.get('loc')}: "
                f"{first.get('msg')} (a bug in sbt-bench's export; please report it)"
            )
