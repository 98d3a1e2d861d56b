"""Readers check what they read; merges and `score` never lose what is on disk.

The right result (exit 0) where a bad-looking input has one: a null answer is unparseable,
two answer files with one name keep both results, a later run keeps the folder's group
means, and a commit cut short is finished by the reader that finds it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from sbt_bench.api import load_results
from sbt_bench.core.errors import SbtError
from sbt_bench.results.folder import TaskCommit, commit_results, describe_samples
from sbt_bench.results.group_means import aggregate_groups, known_groups
from sbt_bench.results.records import new_results
from sbt_bench.results.schema import ModelIdentity, RecordedConfig, RunResults, TaskResult
from tests.cli_runner import run_cli
from tests.e2e.bad_inputs import LIMIT, build_earlier, pope_answer_rows


@pytest.fixture(scope="module")
def earlier(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """Two finished POPE results, `base` and `other`."""
    return build_earlier(data_dir, tmp_path_factory.mktemp("earlier"))


def score_file(data: Path, answers: Path, out: Path, *extra: str) -> int:
    args = ["--predictions", str(answers), "--data-dir", str(data), "--limit", str(LIMIT)]
    return run_cli("score", "pope_random", *args, "--output-dir", str(out), *extra)


def write_rows(path: Path, rows: list[dict[str, object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_a_null_answer_is_unparseable_not_yes(data_dir: Path, tmp_path: Path) -> None:
    """POPE `"text": null` counts as unparseable, never as the word "None" read as yes."""
    rows = pope_answer_rows(data_dir)
    rows[0]["text"] = None
    assert score_file(data_dir, write_rows(tmp_path / "a" / "answers.jsonl", rows), tmp_path) == 0
    (results,) = tmp_path.glob("*/results.json")
    entry = json.loads(results.read_text())["tasks"]["pope_random"]
    assert entry["metrics"]["unparseable"] == 1  # a count of items
    assert entry["n_samples"] == LIMIT


def test_two_answer_files_of_one_name_keep_both(data_dir: Path, tmp_path: Path) -> None:
    """a/answers.jsonl and b/answers.jsonl into one --output-dir: two folders, each its own file."""
    rows = pope_answer_rows(data_dir)
    first = write_rows(tmp_path / "a" / "answers.jsonl", rows)
    second = write_rows(tmp_path / "b" / "answers.jsonl", [r | {"text": "no"} for r in rows])
    out = tmp_path / "out"
    assert score_file(data_dir, first, out) == 0
    assert score_file(data_dir, second, out) == 0
    docs = {p.parent.name: json.loads(p.read_text()) for p in out.glob("*/results.json")}
    assert len(docs) == 2
    recorded = {d["model"]["predictions"] for d in docs.values()}
    assert recorded == {str(first.resolve()), str(second.resolve())}
    yes = {
        d["model"]["predictions"]: d["tasks"]["pope_random"]["metrics"]["yes_ratio"]
        for d in docs.values()
    }
    assert yes[str(first.resolve())] == 1
    assert yes[str(second.resolve())] == 0


def test_score_prints_the_folder_it_wrote(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The path of the results.json that `score` wrote is on stdout."""
    answers = write_rows(tmp_path / "a" / "answers.jsonl", pope_answer_rows(data_dir))
    assert score_file(data_dir, answers, tmp_path / "out", "--name", "mine") == 0
    assert str(tmp_path / "out" / "mine" / "results.json") in capsys.readouterr().out


def entry(acc: float, n: int = 10) -> TaskResult:
    return TaskResult(metrics={"acc": acc}, stderr={"acc": 0.1}, n_samples=n)


ETHICS = (
    "ethics_cm",
    "ethics_deontology",
    "ethics_justice",
    "ethics_utilitarianism",
    "ethics_virtue",
)


def commit(folder: Path, tasks: dict[str, TaskResult]) -> RunResults:
    run = new_results(ModelIdentity(name="m", fingerprint="f"), RecordedConfig())
    outputs = {t: TaskCommit(e, f'{{"id": "{t}"}}\n') for t, e in tasks.items()}
    return commit_results(folder, run, outputs, lambda ts: aggregate_groups(ts, known_groups()))


def test_a_later_run_keeps_the_folders_group_mean(tmp_path: Path) -> None:
    """`--tasks ethics` then `--tasks truthfulqa_mc2` into one folder keeps the ETHICS mean."""
    commit(tmp_path, {t: entry(0.5 + i / 10) for i, t in enumerate(ETHICS)})
    doc = commit(tmp_path, {"truthfulqa_mc2": entry(0.3)})
    assert doc.groups["ethics"].metrics["acc"] == pytest.approx(0.7)


def test_a_group_whose_member_is_gone_is_dropped_with_a_note(tmp_path: Path) -> None:
    """A group entry leaves results.json only when a member is gone, and a note says which."""
    commit(tmp_path, {t: entry(0.5) for t in ETHICS})
    path = tmp_path / "results.json"
    doc = json.loads(path.read_text())
    del doc["tasks"]["ethics_virtue"]
    path.write_text(json.dumps(doc))
    merged = commit(tmp_path, {"truthfulqa_mc2": entry(0.3)})
    assert "ethics" not in merged.groups
    assert "ethics_virtue" in merged.notes["groups.ethics"]


def cut_commit(folder: Path, *, written: bool) -> Path:
    """Leave `folder` as a run killed after staging its samples (and writing results.json)."""
    samples = folder / "samples_pope_random.jsonl"
    text = samples.read_text().replace('"prediction": "yes"', '"prediction": "no"', 1)
    staged = folder / ".samples_pope_random.jsonl.staged"
    staged.write_text(text)
    if written:
        path = folder / "results.json"
        doc = json.loads(path.read_text())
        doc["tasks"]["pope_random"]["samples"] = describe_samples(samples.name, text).model_dump()
        path.write_text(json.dumps(doc))
    return staged


@pytest.mark.parametrize("written", [True, False], ids=["after results.json", "before it"])
def test_a_reader_finishes_or_undoes_a_cut_commit(
    earlier: Path, tmp_path: Path, *, written: bool
) -> None:
    """`compare` on a folder cut mid-commit finishes it (or undoes it) as `run` would, exit 0."""
    out = shutil.copytree(earlier, tmp_path / "out")
    staged = cut_commit(out / "base", written=written)
    assert run_cli("compare", str(out / "base"), str(out / "other")) == 0
    assert not staged.exists()
    text = (out / "base" / "samples_pope_random.jsonl").read_text()
    recorded = json.loads((out / "base" / "results.json").read_text())["tasks"]["pope_random"]
    assert recorded["samples"]["sha256"] == hashlib.sha256(text.encode()).hexdigest()


def test_a_cut_commit_in_a_read_only_folder_is_refused(
    earlier: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where the reader cannot finish the commit, it refuses in one line naming the folder."""
    out = shutil.copytree(earlier, tmp_path / "out")
    cut_commit(out / "base", written=True)

    def read_only(_folder: Path) -> None:
        raise PermissionError(13, "Permission denied")

    # Tests run as root, who may write a chmod 555 folder: the failure is simulated.
    monkeypatch.setattr("sbt_bench.results.folder.recover_folder", read_only)
    assert run_cli("compare", str(out / "base"), str(out / "other")) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert str(out / "base") in line
    assert "cannot be written" in line


def test_load_results_refuses_a_tampered_samples_file(earlier: Path, tmp_path: Path) -> None:
    """The Python API checks each samples file against results.json as the CLI readers do."""
    out = shutil.copytree(earlier, tmp_path / "out")
    samples = out / "base" / "samples_pope_random.jsonl"
    samples.write_text(samples.read_text().replace('"id": "2"', '"id": "2", "x": 1'))
    with pytest.raises(SbtError, match=r"samples_pope_random\.jsonl.*sha256"):
        load_results(out / "base")
    assert load_results(out / "other").model.name == "other"


def test_tampering_with_one_line_is_refused_by_every_reader(
    earlier: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """compare, leaderboard --base and report each refuse it, naming the file, exit 2."""
    out = shutil.copytree(earlier, tmp_path / "out")
    samples = out / "other" / "samples_pope_random.jsonl"
    lines = samples.read_text().splitlines(keepends=True)
    lines[5] = lines[5].replace('"id": "5"', '"id": "5", "note": "edited"')
    samples.write_text("".join(lines))
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: p\ndescription: d\ncolumns:\n  - {label: F1, task: pope_random, metric: f1}\n"
    )
    commands = (
        ["compare", str(out / "base"), str(out / "other")],
        ["leaderboard", str(out), "--spec", str(spec), "--base", "base"],
        ["report", str(out), "--base", "base", "--output", str(tmp_path / "r.html")],
    )
    for argv in commands:
        capsys.readouterr()
        assert run_cli(*argv) == 2
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert str(samples) in line
