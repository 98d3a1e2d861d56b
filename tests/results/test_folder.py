"""One consistent results folder: locked merges, staged samples, identity checks, tidy files."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from sbt_bench.backends import BackendOptions, ModelSpec, fingerprint
from sbt_bench.core.errors import SbtError
from sbt_bench.core.files import write_atomic
from sbt_bench.results.folder import (
    RESULTS_NAME,
    TaskCommit,
    commit_results,
    describe_samples,
    recover_folder,
    start_results,
)
from sbt_bench.results.records import new_results, read_results
from sbt_bench.results.schema import (
    GroupResult,
    ModelIdentity,
    RecordedConfig,
    RunResults,
    TaskResult,
)

MODEL = ModelIdentity(name="m", fingerprint="aaa")
OTHER = ModelIdentity(name="m", fingerprint="bbb")


def output(task: str, n: int) -> TaskCommit:
    """A task entry of `n` items and its `n`-line samples text."""
    lines = "".join(json.dumps({"id": str(i), "task": task}) + "\n" for i in range(n))
    return TaskCommit(TaskResult(metrics={"acc": n / 100}, n_samples=n), lines)


def no_groups(tasks: Any) -> dict[str, GroupResult]:
    return {}


def commit(folder: Path, tasks: dict[str, int], model: ModelIdentity = MODEL) -> RunResults:
    """Start and commit a run of `tasks` (name -> item count) into `folder`."""
    doc = start_results(folder, model, RecordedConfig(limit=None), overwrite=False)
    outputs = {task: output(task, n) for task, n in tasks.items()}
    return commit_results(folder, doc, outputs, no_groups)


def assert_consistent(folder: Path) -> None:
    """Every task's samples file is there and matches what results.json says about it."""
    doc = read_results(folder / RESULTS_NAME)
    for task, entry in doc.tasks.items():
        assert entry.samples is not None
        name = entry.samples.file
        text = (folder / name).read_text()
        assert describe_samples(name, text) == entry.samples, task
        assert entry.samples.lines == entry.n_samples


def test_results_name_their_samples_files(tmp_path: Path) -> None:
    """Each task entry names its samples file with its line count and sha256."""
    commit(tmp_path, {"a": 3, "b": 5})
    assert_consistent(tmp_path)
    assert not list(tmp_path.glob(".*.staged"))


def test_a_second_run_keeps_the_first_runs_tasks(tmp_path: Path) -> None:
    """A run started before another finished still merges into what that one wrote."""
    first = start_results(tmp_path, MODEL, RecordedConfig(), overwrite=False)
    second = start_results(tmp_path, MODEL, RecordedConfig(), overwrite=False)
    commit_results(tmp_path, first, {"a": output("a", 2)}, no_groups)
    merged = commit_results(tmp_path, second, {"b": output("b", 4)}, no_groups)
    assert set(merged.tasks) == {"a", "b"}
    assert set(read_results(tmp_path / RESULTS_NAME).tasks) == {"a", "b"}
    assert_consistent(tmp_path)


def _commit_in_process(folder: str, task: str, barrier: Any) -> None:
    doc = start_results(Path(folder), MODEL, RecordedConfig(), overwrite=False)
    barrier.wait()  # both have read results.json before either writes
    commit_results(Path(folder), doc, {task: output(task, 3)}, no_groups)


@pytest.mark.parametrize("attempt", range(3))
def test_concurrent_processes_never_lose_a_task(tmp_path: Path, attempt: int) -> None:
    """Two processes committing different tasks at once: results.json keeps both."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    workers = [
        context.Process(target=_commit_in_process, args=(str(tmp_path), task, barrier))
        for task in ("a", "b")
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert set(read_results(tmp_path / RESULTS_NAME).tasks) == {"a", "b"}
    assert_consistent(tmp_path)


def test_a_commit_cut_before_results_json_leaves_the_previous_set(tmp_path: Path) -> None:
    """Staged samples without the results.json that names them are undone at the next start."""
    commit(tmp_path, {"a": 40})
    write_atomic(tmp_path / ".samples_a.jsonl.staged", output("a", 20).samples)  # then killed
    recover_folder(tmp_path)
    assert not (tmp_path / ".samples_a.jsonl.staged").exists()
    assert len((tmp_path / "samples_a.jsonl").read_text().splitlines()) == 40
    assert_consistent(tmp_path)


def test_a_commit_cut_after_results_json_is_finished(tmp_path: Path) -> None:
    """Staged samples that results.json already names are renamed into place at the next start."""
    commit(tmp_path, {"a": 40})
    new = output("a", 20)
    doc = read_results(tmp_path / RESULTS_NAME)
    named = describe_samples("samples_a.jsonl", new.samples)
    entry = new.result.model_copy(update={"samples": named})
    doc = doc.model_copy(update={"tasks": {**doc.tasks, "a": entry}})
    write_atomic(tmp_path / ".samples_a.jsonl.staged", new.samples)
    doc.to_json(tmp_path / RESULTS_NAME)  # then killed before the rename
    recover_folder(tmp_path)
    assert len((tmp_path / "samples_a.jsonl").read_text().splitlines()) == 20
    assert_consistent(tmp_path)


def test_orphan_temporaries_are_removed_at_start(tmp_path: Path) -> None:
    """Temporary files of a killed writer are deleted when the next run starts."""
    commit(tmp_path, {"a": 1})
    orphans = [tmp_path / ".results.json.1a2b.tmp", tmp_path / ".samples_a.jsonl.3c4d.tmp"]
    for orphan in orphans:
        orphan.write_text("half")
    start_results(tmp_path, MODEL, RecordedConfig(), overwrite=False)
    assert not any(orphan.exists() for orphan in orphans)


def test_another_identity_is_refused_naming_the_flag(tmp_path: Path) -> None:
    """A different fingerprint under the same name stops with a line naming --overwrite."""
    commit(tmp_path, {"a": 2})
    with pytest.raises(SbtError, match="--overwrite"):
        start_results(tmp_path, OTHER, RecordedConfig(), overwrite=False)
    assert set(read_results(tmp_path / RESULTS_NAME).tasks) == {"a"}


def test_overwrite_replaces_another_identity_and_its_samples(tmp_path: Path) -> None:
    """With --overwrite the other identity's tasks and their samples files are removed."""
    commit(tmp_path, {"a": 2})
    doc = start_results(tmp_path, OTHER, RecordedConfig(), overwrite=True)
    merged = commit_results(tmp_path, doc, {"b": output("b", 2)}, no_groups, overwrite=True)
    assert set(merged.tasks) == {"b"}
    assert not (tmp_path / "samples_a.jsonl").exists()
    assert_consistent(tmp_path)


def test_an_identity_change_during_a_run_is_refused_at_commit(tmp_path: Path) -> None:
    """If another identity wrote the folder while this run computed, the commit refuses."""
    doc = start_results(tmp_path, MODEL, RecordedConfig(), overwrite=False)
    commit(tmp_path, {"a": 1}, model=OTHER)
    with pytest.raises(SbtError, match="--overwrite"):
        commit_results(tmp_path, doc, {"b": output("b", 1)}, no_groups)


def test_written_files_follow_the_umask(tmp_path: Path) -> None:
    """Atomic writes create files 0666 & ~umask (not mkstemp's 0600)."""
    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "x.json", "{}")
        os.umask(0o007)
        write_atomic(tmp_path / "y.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "x.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "y.json").stat().st_mode) == 0o660


@pytest.mark.parametrize("value", ["0.5", "high", True, [0.5]])
def test_a_metric_that_is_not_a_number_is_one_line(tmp_path: Path, value: object) -> None:
    """results.json with a string (or other non-number) metric is refused naming the metric."""
    doc = new_results(MODEL, RecordedConfig()).document
    doc["tasks"]["a"] = {"metrics": {"acc": value}, "stderr": {}}
    path = tmp_path / RESULTS_NAME
    path.write_text(json.dumps(doc))
    with pytest.raises(SbtError, match=r"tasks\.a\.metrics\.acc is .* not a number"):
        read_results(path)


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8000/v1",
        "http://127.0.0.1:8000/v1/",
        "http://LOCALHOST:8000/v1",
        "HTTP://127.0.0.1:8000/v1",
    ],
)
def test_spellings_of_one_server_are_one_identity(url: str) -> None:
    """Loopback names, case and a trailing slash do not change a served model's fingerprint."""
    options = BackendOptions()
    canonical = ModelSpec("m", "openai-completions", "m", base_url="http://127.0.0.1:8000/v1")
    spelt = ModelSpec("m", "openai-completions", "m", base_url=url)
    assert fingerprint(spelt, options) == fingerprint(canonical, options)


def test_default_port_is_the_same_server_and_another_port_is_not() -> None:
    """:443 on https is the default port; :8001 is another server."""
    options = BackendOptions()

    def ident(url: str) -> str:
        return fingerprint(ModelSpec("m", "openai", "gpt", base_url=url), options)

    assert ident("https://api.example.com:443/v1") == ident("https://api.example.com/v1")
    assert ident("http://127.0.0.1:8001/v1") != ident("http://127.0.0.1:8000/v1")
