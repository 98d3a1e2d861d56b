"""A `run --predict-only` folder as `score` reads it: its record of the run, its samples lines.

Everything is checked against what the run recorded: the samples file's sha256, its task
(in the file name and in every line), the task's hash, one log-likelihood per choice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sbt_bench.core.errors import SbtError
from sbt_bench.core.files import read_json_lines
from sbt_bench.core.types import Response
from sbt_bench.rescoring.answer_sheet import AnswerSheet, reply_text
from sbt_bench.results.folder import read_folder
from sbt_bench.results.schema import ModelIdentity, TaskResult
from sbt_bench.tasks.readers import Record
from sbt_bench.tasks.source import resolve_data_dir


@dataclass(frozen=True)
class RecordedRun:
    """What the predict-only run beside a samples file recorded for its task."""

    model: ModelIdentity
    entry: TaskResult
    data_dir: Path | None


def read_recorded_run(samples: Path, task: str) -> RecordedRun | None:
    """The predict-only run beside a samples file, checked: its file, its task, its sha256.

    Raises:
        SbtError: the file holds another task's samples, or differs from its record.
    """
    named = samples.name[len("samples_") : -len(".jsonl")]
    if named != task:
        raise SbtError(
            f"{samples}: holds {named}'s samples, not {task}'s; give "
            f"samples_{task}.jsonl or score it as sbt-bench score {named}"
        )
    results = samples.parent / "results.json"
    if not results.is_file():
        return None
    doc = read_folder(results)
    entry = doc.tasks.get(task)
    if entry is None:
        raise SbtError(
            f"{results}: field 'tasks.{task}' is missing, so {samples.name} is no file of "
            "this run; rerun the task with --predict-only"
        )
    data_dir = doc.config.data_dir
    return RecordedRun(doc.model, entry, Path(data_dir) if data_dir not in {None, "hub"} else None)


def recorded_data_dir(recorded: RecordedRun) -> Path | None:
    """The data folder the predict-only run read, checked as `--data-dir` would be."""
    if recorded.data_dir is None:
        return None
    try:
        return resolve_data_dir(str(recorded.data_dir))
    except SbtError as err:
        raise SbtError(f"{err} (recorded by the predict-only run; or pass --data-dir)") from None


def check_recorded_hash(samples: Path, task: str, recorded: RecordedRun, current: str) -> None:
    """Refuse samples of a task whose definition changed since they were predicted."""
    old = recorded.entry.spec_hash
    if old is not None and old != current:
        raise SbtError(
            f"{samples}: field 'hash' of {task} is {old}, but the task here hashes to "
            f"{current} (its YAML, data or prompt settings changed); rerun it with --predict-only"
        )


def is_samples_file(path: Path) -> bool:
    """Whether `path` is an sbt-bench `samples_<task>.jsonl`."""
    return path.is_file() and path.name.startswith("samples_") and path.suffix == ".jsonl"


def _check_line_task(path: Path, line: int, item: Mapping[str, Any]) -> None:
    """A samples line that names its task must name the one being scored."""
    task = path.name[len("samples_") : -len(".jsonl")]
    if "task" in item and item["task"] != task:
        raise SbtError(
            f"{path}:{line}: field 'task' is {item['task']!r}, not {task!r}; "
            "this line belongs to another task's samples"
        )


def read_sbt_samples(path: Path, _records: Sequence[Record]) -> AnswerSheet:
    """sbt-bench's own `samples_<task>.jsonl` (to rescore with another parser)."""
    sheet = AnswerSheet(path)
    for line, item in read_json_lines(path):
        if "id" not in item or "generation" not in item:
            raise SbtError(f"{path}:{line}: not an sbt-bench generation samples line")
        _check_line_task(path, line, item)
        text = reply_text(item["generation"], f"{path}:{line}")
        sheet.add(str(item["id"]), text, line, f"item {item['id']}")
    return sheet


def read_sbt_choices(
    path: Path, ids: set[str], n_choices: Mapping[str, int]
) -> dict[str, tuple[Response, ...]]:
    """Per-choice log-likelihoods of a multiple-choice samples file (`run --predict-only`)."""
    answers: dict[str, tuple[Response, ...]] = {}
    for line, item in read_json_lines(path):
        if "id" not in item or not isinstance(item.get("loglikelihoods"), list):
            raise SbtError(f"{path}:{line}: not an sbt-bench multiple-choice samples line")
        _check_line_task(path, line, item)
        key = str(item["id"])
        if key not in ids or key in answers:
            raise SbtError(f"{path}:{line}: item {key} is unknown or answered twice")
        lls = item["loglikelihoods"]
        if len(lls) != n_choices[key]:
            raise SbtError(
                f"{path}:{line}: field 'loglikelihoods' has {len(lls)} values for item {key}'s "
                f"{n_choices[key]} choices; rerun the task with --predict-only"
            )
        greedy = item.get("is_greedy") or [False] * len(lls)
        if len(greedy) != len(lls) or not all(_is_number(v) for v in lls):
            raise SbtError(
                f"{path}:{line}: fields 'loglikelihoods'/'is_greedy' of item {key} are not "
                "one number and one flag per choice; rerun the task with --predict-only"
            )
        pairs = zip(lls, greedy, strict=True)
        answers[key] = tuple(Response(logprob=float(ll), is_greedy=bool(g)) for ll, g in pairs)
    return answers


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_sbt_letters(path: Path, ids: set[str]) -> dict[str, tuple[Response, ...]]:
    """The generated letter and first-token top_logprobs of a letters-protocol samples file."""
    answers: dict[str, tuple[Response, ...]] = {}
    for line, item in read_json_lines(path):
        if "id" not in item or "generation" not in item or "top_logprobs" not in item:
            raise SbtError(
                f"{path}:{line}: not an sbt-bench letters samples line (id, generation and "
                "top_logprobs); rerun it with this sbt-bench's run --predict-only"
            )
        _check_line_task(path, line, item)
        key = str(item["id"])
        if key not in ids or key in answers:
            raise SbtError(f"{path}:{line}: item {key} is unknown or answered twice")
        tops = item["top_logprobs"] or {}
        if not isinstance(tops, dict) or not all(_is_number(v) for v in tops.values()):
            raise SbtError(f"{path}:{line}: field 'top_logprobs' is not a mapping of numbers")
        text = reply_text(item["generation"], f"{path}:{line}")
        scores = {str(k): float(v) for k, v in tops.items()}
        answers[key] = (Response(text=text, top_logprobs=scores or None),)
    return answers
