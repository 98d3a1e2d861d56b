"""The harness of the bad-input suites: a scratch place holding earlier results, a case, a check.

Every case runs `sbt-bench` or `sbt-train` in this process against a place whose output
folder already holds two finished results (POPE random answers scored under the names
`base` and `other`), and asserts what a user must see: exit status 2, exactly one
`error:` line naming the file or field, no traceback, and every earlier file unchanged.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

LIMIT = 12  # two POPE images x 6 questions


@dataclass(frozen=True)
class Place:
    """A scratch folder, the tiny model and the real data; `out` holds earlier results."""

    tmp: Path
    model: Path
    data: Path

    @property
    def out(self) -> Path:
        """The output folder holding the earlier results `base` and `other`."""
        return self.tmp / "out"

    def write(self, relative: str, content: str | bytes) -> Path:
        """Write a file under the scratch folder; its path."""
        path = self.tmp / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    def jsonl(self, relative: str, rows: list[object]) -> Path:
        """A JSON-lines file of `rows`; its path."""
        return self.write(relative, "".join(json.dumps(r) + "\n" for r in rows))

    def data_with(self, relative: str, content: str | bytes) -> str:
        """A data folder holding only `relative` (as `content`); its path."""
        self.write(f"data/{relative}", content)
        return str(self.tmp / "data")

    def model_yaml(self, extra: str) -> str:
        """A model YAML file on the tiny model with one more line."""
        return str(self.write("m.yaml", f"name: m\nmodel: hf:{self.model}\n{extra}\n"))


@dataclass(frozen=True)
class Case:
    """A bad input: the arguments (built in a Place), the command, what the error line names."""

    name: str
    argv: Callable[[Place], list[str]]
    needles: tuple[str, ...]
    command: str = "sbt-bench"
    changes: tuple[str, ...] = field(default=())
    """Earlier files the case itself edits first (left out of the unchanged check)."""


def pope_answer_rows(data: Path, limit: int = LIMIT) -> list[dict[str, object]]:
    """LLaVA-style answers to POPE random's first items: right on even lines."""
    lines = (data / "pope" / "coco_pope_random.json").read_text().splitlines()[:limit]
    rows = []
    for i, line in enumerate(lines):
        item = json.loads(line)
        answer = item["label"] if i % 2 == 0 else {"yes": "no", "no": "yes"}[item["label"]]
        rows.append({"question_id": item["question_id"], "text": answer})
    return rows


def build_earlier(data: Path, folder: Path) -> Path:
    """Two finished results, `base` and `other`, scored from POPE answers; the output dir."""
    from tests.cli_runner import run_cli

    for name in ("base", "other"):
        rows = pope_answer_rows(data)
        if name == "other":
            rows = [r | {"text": "yes"} for r in rows]
        answers = folder / f"{name}_answers.jsonl"
        answers.parent.mkdir(parents=True, exist_ok=True)
        answers.write_text("".join(json.dumps(r) + "\n" for r in rows))
        args = ["--predictions", str(answers), "--data-dir", str(data), "--limit", str(LIMIT)]
        status = run_cli(
            "score", "pope_random", *args, "--output-dir", str(folder / "out"), "--name", name
        )
        assert status == 0
    return folder / "out"


def snapshot(folder: Path) -> dict[str, str]:
    """sha256 of every file under `folder`, by relative path (lock files left out)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def make_place(tmp: Path, model: Path, data: Path, earlier: Path) -> Place:
    """A fresh Place whose `out` is a copy of the earlier results."""
    shutil.copytree(earlier, tmp / "out")
    return Place(tmp, model, data)


def run_command(command: str, argv: list[str]) -> int:
    """`sbt-bench` or `sbt-train` in this process; its exit status."""
    if command == "sbt-train":
        from sbt_train.cli import main as train_main

        try:
            return train_main(argv)
        except SystemExit as stop:
            return int(stop.code or 0)
    from sbt_bench.cli import main

    with pytest.raises(SystemExit) as stop:
        main(argv)
    return int(stop.value.code or 0)


def check_refused(case: Case, place: Place, capsys: pytest.CaptureFixture[str]) -> str:
    """Run the case; assert exit 2, one error line with every needle, nothing earlier changed.

    Returns:
        The error line.
    """
    argv = case.argv(place)  # may edit earlier files (listed in case.changes)
    before = snapshot(place.out)
    capsys.readouterr()
    status = run_command(case.command, argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith(f"{case.command}: error:")]
    assert status == 2, err
    assert len(lines) == 1, err
    for needle in case.needles:
        assert needle in lines[0], lines[0]
    after = snapshot(place.out)
    assert after == before, "an earlier result changed"
    return lines[0]
