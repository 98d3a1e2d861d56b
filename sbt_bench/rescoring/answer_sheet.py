"""Answers read from a recorded-answers file, one per item, each remembering its line.

A second answer for an item, or an answer for no item of the task, is an error naming the
line: keeping the last one, or dropping it, would score a file other than the one given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

from sbt_bench.core.errors import SbtError


class AnswerSheet:
    """Answer text per sample id, filled line by line from one file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.answers: dict[str, str] = {}
        self.lines: dict[str, object] = {}

    def add(self, item: str, text: str, line: object, label: str) -> None:
        """Record the answer on `line` for sample `item` (`label` names it in errors)."""
        if item in self.answers:
            raise SbtError(
                f"{self.path}:{line}: a second answer for {label} (the first is at "
                f"{self.lines[item]}); keep one answer per item"
            )
        self.answers[item] = text
        self.lines[item] = line

    def refuse_unknown(self, line: object, label: str) -> NoReturn:
        """Raise: the answer on `line` belongs to no item of the task."""
        raise SbtError(
            f"{self.path}:{line}: {label} is no item of this task's question file; is this "
            "the answers file of another split or benchmark?"
        )

    def check_known(self, ids: set[str]) -> None:
        """Refuse answers whose sample id is not among `ids`."""
        for item, line in self.lines.items():
            if item not in ids:
                self.refuse_unknown(line, f"item {item}")


def reply_text(value: Any, where: str) -> str:
    """An answer as text: null is no answer (unparseable, never the word "None")."""
    if value is None:
        return ""
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    raise SbtError(f"{where}: the answer is {type(value).__name__}, not text; write it as a string")
