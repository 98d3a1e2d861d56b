"""One consistent results folder per model, whatever runs share it and wherever they stop.

Every write into a model's folder happens under an exclusive lock (`flock` on `.lock`):

* at start, orphan temporaries of killed runs are removed and a cut commit is finished
  or undone, and the model identity is checked (a different model under the same name
  is refused unless `--overwrite`, so finished results are never silently dropped);
* at the end, results.json is re-read (a concurrent run may have added tasks since),
  this run's tasks are merged in, the samples files are staged, results.json is written
  naming each samples file with its line count and sha256, and only then are the staged
  files renamed into place.

results.json is the commit record: a kill before it is written leaves the previous
results and samples untouched (the staged files are deleted at the next start), a kill
after it leaves staged files whose checksums results.json names (renamed at the next
start). A reader can always check a samples file against the entry that names it.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sbt_bench.core.errors import SbtError
from sbt_bench.core.faults import kill_point
from sbt_bench.core.files import make_folder, storage_error, write_atomic
from sbt_bench.results.records import new_results, read_results, save_results
from sbt_bench.results.schema import (
    GroupResult,
    ModelIdentity,
    RecordedConfig,
    RunResults,
    SamplesFile,
    TaskResult,
)

log = logging.getLogger(__name__)

RESULTS_NAME = "results.json"
LOCK_NAME = ".lock"
_STAGED = ".staged"


@dataclass(frozen=True)
class TaskCommit:
    """What one task commits to the folder: its results.json entry and its samples text."""

    result: TaskResult
    samples: str


Regroup = Callable[[Mapping[str, TaskResult]], dict[str, GroupResult]]
"""Recomputes the `groups` section from the merged tasks."""


def samples_name(task: str) -> str:
    """The samples file of a task, as the README names it."""
    return f"samples_{task}.jsonl"


def describe_samples(name: str, text: str) -> SamplesFile:
    """The `samples` entry results.json keeps for a task: file name, line count, sha256."""
    return SamplesFile(
        file=name,
        lines=text.count("\n"),
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )


@contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold the folder's exclusive lock; says so in one line when another run holds it."""
    make_folder(folder)
    lock = folder / LOCK_NAME
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as err:
        raise storage_error(err, lock) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("%s: another run is writing this folder; waiting for it", folder)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def start_results(
    folder: Path, model: ModelIdentity, config: RecordedConfig, *, overwrite: bool
) -> RunResults:
    """Tidy the folder and return the results document this run adds to.

    Raises:
        SbtError: results.json holds another model identity under this name and
            `overwrite` is off.
    """
    with folder_lock(folder):
        recover_folder(folder)
        path = folder / RESULTS_NAME
        if not path.exists():
            return new_results(model, config)
        previous = read_results(path)
        if _same_model(previous, model):
            return previous.model_copy(update={"config": config})
        if not overwrite:
            raise _identity_error(path, previous, model)
        log.warning("%s holds another model identity; --overwrite starts it afresh", path)
        return new_results(model, config)


def commit_results(
    folder: Path,
    run: RunResults,
    outputs: Mapping[str, TaskCommit],
    regroup: Regroup,
    *,
    overwrite: bool = False,
) -> RunResults:
    """Merge this run's tasks into the folder's results.json and write it with the samples.

    Args:
        folder: the model's results folder.
        run: this run's results document (model, config, timing; tasks it started from).
        outputs: per task name, its result and samples text.
        regroup: recomputes the `groups` section from the merged tasks.
        overwrite: replace a results.json of another model identity written meanwhile.

    Returns:
        The merged document, as written.
    """
    with folder_lock(folder):
        path = folder / RESULTS_NAME
        current = _current(path, run, overwrite=overwrite)
        tasks = dict(current.tasks)
        for task, output in outputs.items():
            name = samples_name(task)
            write_atomic(_staged(folder / name), output.samples)
            samples = describe_samples(name, output.samples)
            tasks[task] = output.result.model_copy(update={"samples": samples})
        kill_point("commit-staged")
        update: dict[str, Any] = {"model": run.model, "config": run.config, "tasks": tasks}
        if run.timing is not None:
            update["timing"] = run.timing
        groups = regroup(tasks)
        notes = _note_dropped_groups(path, current, tasks, groups)
        merged = current.model_copy(update=update | {"groups": groups, "notes": notes})
        merged = save_results(path, merged)
        kill_point("commit-written")
        for task in outputs:
            _staged(folder / samples_name(task)).replace(folder / samples_name(task))
        _remove_stale_samples(folder, merged)
    return merged


def read_folder(path: Path) -> RunResults:
    """A results.json checked against its samples files, as every reader must see it.

    A commit cut short (staged samples beside results.json) is finished or undone as `run`
    does at its start; where the folder cannot be written, the reader is refused instead.
    Every samples file results.json names must hold the lines and sha256 it records, so an
    edited or truncated file never feeds a comparison or a table.

    Raises:
        SbtError: unreadable results.json, a half-done commit that cannot be finished, or a
            samples file that differs from its record (naming the file).
    """
    folder = path.parent
    if any(folder.glob(f".samples_*.jsonl{_STAGED}")):
        try:
            with folder_lock(folder):
                recover_folder(folder)
        except (SbtError, OSError):
            raise SbtError(
                f"{folder}: a run was cut between writing results.json and its samples files, "
                "and this folder cannot be written to finish it; rerun the same command there "
                "with write access (it finishes the commit) before reading it"
            ) from None
    doc = read_results(path)
    for task, entry in doc.tasks.items():
        check_samples_file(folder, task, entry.samples)
    return doc


def check_samples_file(folder: Path, task: str, described: SamplesFile | None) -> None:
    """Refuse a task's samples file whose lines or sha256 differ from what results.json records."""
    if described is None:
        return  # written before samples were recorded: nothing to check against
    file = folder / samples_name(task)
    if described.file != file.name:
        raise SbtError(
            f"{folder / RESULTS_NAME}: field 'tasks.{task}.samples.file' is "
            f"{described.file!r}, not {file.name!r}; rerun {task} to rewrite it"
        )
    if not file.is_file():
        raise SbtError(
            f"{file}: missing, though results.json records it for {task}; "
            f"rerun {task} into {folder} to write it again"
        )
    try:
        data = file.read_bytes()
    except OSError as err:
        raise SbtError(f"{file}: cannot read ({err.strerror}); check its permissions") from None
    lines, digest = data.count(b"\n"), hashlib.sha256(data).hexdigest()
    if lines != described.lines or digest != described.sha256:
        raise SbtError(
            f"{file}: {lines} lines, sha256 {digest[:12]}..., but results.json records "
            f"{described.lines} lines, sha256 {described.sha256[:12]}... "
            f"(edited or cut after the run); rerun {task} into {folder} to rewrite it"
        )


def recover_folder(folder: Path) -> None:
    """Remove orphan temporaries; finish (or undo) a commit cut short. Call under the lock.

    Every write into the folder happens under the lock, so any temporary file found
    while holding it belongs to a run that was killed.
    """
    for tmp in folder.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)
    staged = sorted(folder.glob(f".samples_*.jsonl{_STAGED}"))
    if not staged:
        return
    path = folder / RESULTS_NAME
    named = _named_samples(read_results(path)) if path.exists() else {}
    for file in staged:
        final = folder / file.name[1 : -len(_STAGED)]
        text = file.read_text(encoding="utf-8")
        if named.get(final.name) == describe_samples(final.name, text).sha256:
            file.replace(final)  # results.json was written: finish the commit
        else:
            file.unlink()  # results.json was not written: the previous samples stand


def _current(path: Path, run: RunResults, *, overwrite: bool) -> RunResults:
    """The document to merge into: results.json as it is now, unless it is another model's."""
    if not path.exists():
        return run
    current = read_results(path)
    if _same_model(current, run.model):
        return current
    if not overwrite:
        raise _identity_error(path, current, run.model)
    return run


def _same_model(doc: RunResults, model: ModelIdentity) -> bool:
    return doc.model.fingerprint == model.fingerprint


def _identity_error(path: Path, doc: RunResults, model: ModelIdentity) -> SbtError:
    old = doc.model
    return SbtError(
        f"{path} holds results of another model identity under the name {model.name!r} "
        f"(fingerprint {old.fingerprint} vs {model.fingerprint}: its path, files, "
        "dtype or device differ); pass --overwrite to start it afresh, or give this model "
        "another name (name: in a model YAML)"
    )


def _named_samples(doc: RunResults) -> dict[str, str]:
    """Samples file name -> the sha256 results.json records for it."""
    return {e.samples.file: e.samples.sha256 for e in doc.tasks.values() if e.samples is not None}


def _note_dropped_groups(
    path: Path, current: RunResults, tasks: Mapping[str, Any], groups: Mapping[str, Any]
) -> dict[str, str]:
    """The file's notes, plus one per group mean that leaves it, naming the member gone."""
    notes = dict(current.notes)
    for name, entry in current.groups.items():
        if name in groups:
            notes.pop(f"groups.{name}", None)
            continue
        gone = [t for t in entry.tasks if t not in tasks]
        reason = f"its member {gone[0]} is no longer there" if gone else "it is no longer defined"
        notes[f"groups.{name}"] = f"group {name} dropped: {reason}; run the whole group again"
        log.warning("%s: %s", path, notes[f"groups.{name}"])
    return notes


def _remove_stale_samples(folder: Path, doc: RunResults) -> None:
    """Samples files of tasks results.json no longer holds (an overwritten model's)."""
    keep = {samples_name(task) for task in doc.tasks}
    for file in folder.glob("samples_*.jsonl"):
        if file.name not in keep:
            file.unlink(missing_ok=True)


def _staged(path: Path) -> Path:
    return path.with_name(f".{path.name}{_STAGED}")
