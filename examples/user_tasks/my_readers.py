"""The reader of `my_yes_no.yaml`: a CSV with text, question and answer (yes or no) columns."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any


def read_yes_no_csv(path: Path) -> list[dict[str, Any]]:
    """One record per row; `answer` is the reference the POPE scorer compares with."""
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    for line, row in enumerate(rows, start=2):
        if row.get("answer", "").strip().lower() not in ("yes", "no"):
            msg = f"{path}:{line}: answer must be yes or no, got {row.get('answer')!r}"
            raise ValueError(msg)
    return rows
