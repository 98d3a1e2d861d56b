"""`--push-to-hub` against a loopback stand-in of the hub: bytes, idempotency, no token on disk."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_runner import run_cli
from tests.fake_hub import FakeHub, serve
from tests.needs import need
from tests.report_data import write_pair

TOKEN = "hf_standin_token_never_written_0123456789"


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """The stand-in on 127.0.0.1, with HF_ENDPOINT pointing at it and a token in HF_TOKEN."""
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    with serve() as fake:
        monkeypatch.setenv("HF_ENDPOINT", fake.url)
        yield fake


def test_report_push_sends_the_bytes_once_private_and_tokenless(
    hub: FakeHub, tmp_path: Path
) -> None:
    """Uploaded files equal the local ones byte for byte; a second push sends no file."""
    write_pair(tmp_path / "runs", [0.4] * 7, [0.6] * 7)
    page, plots = tmp_path / "page.html", tmp_path / "plots"
    args = ("report", str(tmp_path / "runs"), "--spec", "sbt_paper_text", "--base", "base")
    push = ("--output", str(page), "--plots", str(plots), "--push-to-hub", "me/sbt-report")
    assert run_cli(*args, *push) == 0
    stored = hub.files["me/sbt-report"]
    assert stored["page.html"] == page.read_bytes()
    assert stored["plots/scores.png"] == (plots / "scores.png").read_bytes()
    assert hub.repos["me/sbt-report"]["visibility"] == "private"
    assert hub.repos["me/sbt-report"]["type"] == "dataset"
    assert all(h.get("authorization") == f"Bearer {TOKEN}" for *_, h in hub.requests)
    commits = len(hub.commits())
    assert run_cli(*args, *push) == 0  # the same bytes again (the page is deterministic)
    assert len(hub.commits()) == commits
    assert not any("/preupload/" in path for _, path, _, _ in hub.requests[-3:])
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


def test_run_folder_push_is_resumable_and_leaves_the_cache_local(
    hub: FakeHub, tmp_path: Path
) -> None:
    """A push after a partial upload sends only the missing files; cache.sqlite never goes."""
    from sbt_bench.results.hub_upload import folder_files, push_files

    folder = tmp_path / "model"
    write_pair(tmp_path / "runs", [0.4] * 7, [0.6] * 7)
    base = tmp_path / "runs" / "base"
    (base / "cache.sqlite").write_bytes(b"responses")
    files = folder_files(base, "base/")
    assert "base/cache.sqlite" not in {name for _, name in files}
    first = push_files(files[:2], "me/runs")  # stands in for an upload cut short
    assert len(first.uploaded) == 2
    rest = push_files(files, "me/runs")
    assert set(rest.unchanged) == {name for _, name in files[:2]}
    assert len(rest.uploaded) == len(files) - 2
    for local, name in files:
        assert hub.files["me/runs"][name] == local.read_bytes()
    assert not folder.exists()


def test_push_without_a_token_is_one_line_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No HF_TOKEN: the report is not even built; one line naming the variable, exit 2."""
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    write_pair(tmp_path / "runs", [0.4] * 7, [0.6] * 7)
    page = tmp_path / "page.html"
    args = ("report", str(tmp_path / "runs"), "--output", str(page), "--push-to-hub", "me/x")
    assert run_cli(*args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "HF_TOKEN" in err[0]
    assert not page.exists()


def test_unreachable_hub_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A hub that does not answer (a closed loopback port): one line, exit 2, files kept."""
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    write_pair(tmp_path / "runs", [0.4] * 7, [0.6] * 7)
    page = tmp_path / "page.html"
    args = ("report", str(tmp_path / "runs"), "--output", str(page), "--push-to-hub", "me/x")
    assert run_cli(*args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "saved locally" in err[0]
    assert page.exists()


@pytest.mark.parametrize("command", ["run", "export"])
def test_run_and_export_refuse_a_push_without_token_before_any_work(
    command: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`run`/`export --push-to-hub` without HF_TOKEN: one line, exit 2, nothing written."""
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    write_pair(tmp_path / "runs", [0.4] * 7, [0.6] * 7)
    out = tmp_path / "out"
    if command == "run":
        args = ["run", "--tasks", "truthfulqa_mc1", "--models", "smollm2", "--output-dir", str(out)]
    else:
        args = ["export", str(tmp_path / "runs"), "--output", str(out)]
    assert run_cli(*args, "--push-to-hub", "me/x") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "HF_TOKEN" in err[0]
    assert not out.exists()


def test_export_push_sends_the_records_once(hub: FakeHub, tmp_path: Path) -> None:
    """`export --push-to-hub`: the EEE tree arrives byte for byte; a rerun sends no file."""
    need(importlib.util.find_spec("every_eval_ever") is not None, "the every-eval-ever package")
    write_pair(tmp_path / "runs", [0.4] * 7, [0.6] * 7)
    out = tmp_path / "eee"
    args = ("export", str(tmp_path / "runs"), "--output", str(out), "--push-to-hub", "me/eee")
    assert run_cli(*args) == 0
    files = [p for p in out.rglob("*") if p.is_file()]
    assert files
    stored = hub.files["me/eee"]
    assert {p.relative_to(out).as_posix(): p.read_bytes() for p in files} == stored
    commits = len(hub.commits())
    assert run_cli(*args) == 0
    assert len(hub.commits()) == commits
