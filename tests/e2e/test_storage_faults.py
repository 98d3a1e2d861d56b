"""Storage faults end to end: one line and exit 2 (or a recovered run), never a traceback."""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sbt_bench.results.records import new_results
from sbt_bench.results.schema import ModelIdentity, RecordedConfig
from tests.cli_runner import results_of, run_cli, tiny_run_args

TASKS = "ethics_cm,ethics_justice"


def run_args(model_dir: Path, data_dir: Path, out: Path, *extra: str) -> list[str]:
    return tiny_run_args(model_dir, data_dir, out, TASKS, 2, *extra)


def error_line(capsys: pytest.CaptureFixture[str], code: int, *needles: str) -> str:
    """Exit status 2 and exactly one error line on stderr holding every needle."""
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("sbt-bench: error:")]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0]
    return lines[0]


def metrics(results: dict[str, Any]) -> dict[str, Any]:
    return {task: entry["metrics"] for task, entry in results["tasks"].items()}


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs (needs root and mount); skipped where it cannot be mounted."""
    point = tmp_path / "tmpfs"
    point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(point)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False)


def fill_disk(folder: Path) -> None:
    """Write filler until the file system holding `folder` has no byte left."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError as err:
        if err.errno != errno.ENOSPC:
            raise
    finally:
        os.close(fd)


class TestDiskFull:
    def test_full_tmpfs_is_one_line_and_results_stay(
        self,
        tiny_model_dir: Path,
        data_dir: Path,
        tmpfs: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """On a full disk the run stops with the no-space line; results.json is as before."""
        out = tmpfs / "out"
        first = run_args(tiny_model_dir, data_dir, out)
        first[2] = "ethics_cm"
        assert run_cli(*first) == 0
        (path,) = out.glob("*/results.json")
        before = path.read_bytes()
        fill_disk(tmpfs)
        capsys.readouterr()
        code = run_cli(*run_args(tiny_model_dir, data_dir, out))
        error_line(capsys, code, "no space left on device writing", "--output-dir elsewhere")
        assert path.read_bytes() == before

    def test_injected_enospc_while_writing_results(
        self,
        tiny_model_dir: Path,
        data_dir: Path,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """ENOSPC from the file system while writing samples/results: one line, nothing half."""
        first = run_args(tiny_model_dir, data_dir, tmp_path)
        first[2] = "ethics_cm"
        assert run_cli(*first) == 0
        (path,) = tmp_path.glob("*/results.json")
        before = path.read_bytes()

        def no_space(fd: int) -> None:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr("sbt_bench.core.files.os.fsync", no_space)
        capsys.readouterr()
        code = run_cli(*run_args(tiny_model_dir, data_dir, tmp_path))
        error_line(capsys, code, "no space left on device writing", "--output-dir elsewhere")
        assert path.read_bytes() == before
        assert not list(path.parent.glob(".*.tmp"))


def test_output_folder_under_a_regular_file(
    tiny_model_dir: Path, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--output-dir inside a regular file: one line naming the path and the fix."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    code = run_cli(*run_args(tiny_model_dir, data_dir, blocker / "out"))
    error_line(capsys, code, str(blocker), "a regular file is in the way")


def test_read_only_output_folder(
    tiny_model_dir: Path, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A read-only output folder (a read-only mount as root, else mode 0555): one line."""
    out = tmp_path / "ro"
    out.mkdir()
    if os.geteuid() == 0:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(out)],
            capture_output=True,
            check=False,
        )
        if mounted.returncode != 0:
            pytest.skip("root cannot be denied by permissions, and mount failed")
    else:
        out.chmod(0o555)
    try:
        code = run_cli(*run_args(tiny_model_dir, data_dir, out))
        error_line(capsys, code, str(out), "--output-dir elsewhere")
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", "-l", str(out)], check=False)
        else:
            out.chmod(0o755)


def test_leaderboard_output_under_a_regular_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Leaderboard --output inside a regular file: one line naming it."""
    doc = new_results(ModelIdentity(name="m"), RecordedConfig()).document
    doc["tasks"]["truthfulqa_mc2"] = {"metrics": {"acc": 0.5}, "stderr": {}, "n_samples": 1}
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "results.json").write_text(json.dumps(doc))
    (tmp_path / "blocker").write_text("x")
    target = tmp_path / "blocker" / "board.md"
    code = run_cli("leaderboard", str(tmp_path / "m"), "--output", str(target))
    error_line(capsys, code, str(target), "a regular file is in the way", "--output")


def test_leaderboard_of_a_string_metric(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A results.json whose metric is a string is one line naming the file and metric."""
    doc = new_results(ModelIdentity(name="m"), RecordedConfig()).document
    doc["tasks"]["truthfulqa_mc2"] = {"metrics": {"acc": "0.4x"}, "stderr": {}}
    (tmp_path / "results.json").write_text(json.dumps(doc))
    code = run_cli("leaderboard", str(tmp_path / "results.json"))
    error_line(capsys, code, "results.json", "truthfulqa_mc2.metrics.acc", "not a number")


class TestCorruptCacheRun:
    def test_flipped_cached_values_are_recomputed_and_counted(
        self, tiny_model_dir: Path, data_dir: Path, tmp_path: Path
    ) -> None:
        """Digits flipped inside cached log-likelihoods: same numbers as clean, drops counted."""
        assert run_cli(*run_args(tiny_model_dir, data_dir, tmp_path)) == 0
        clean = results_of(tmp_path)
        (cache,) = tmp_path.glob("*/cache.sqlite")
        db = sqlite3.connect(cache)
        rows = db.execute("SELECT key, value FROM responses LIMIT 3").fetchall()
        for key, value in rows:
            flipped = value.replace("-", "-9", 1)  # a changed number, still valid JSON
            db.execute("UPDATE responses SET value = ? WHERE key = ?", (flipped, key))
        db.commit()
        db.close()
        assert run_cli(*run_args(tiny_model_dir, data_dir, tmp_path)) == 0
        again = results_of(tmp_path)
        assert metrics(again) == metrics(clean)
        assert again["timing"]["cache"]["corrupt_rows_dropped"] == 3
        assert again["timing"]["cached"] == clean["timing"]["requests"] - 3

    def test_garbage_cache_is_moved_aside_and_the_run_recomputes(
        self, tiny_model_dir: Path, data_dir: Path, tmp_path: Path
    ) -> None:
        """A cache with a garbage header: moved aside, recomputed, same numbers, exit 0."""
        assert run_cli(*run_args(tiny_model_dir, data_dir, tmp_path)) == 0
        clean = results_of(tmp_path)
        (cache,) = tmp_path.glob("*/cache.sqlite")
        cache.write_bytes(b"garbage!" * 512)
        assert run_cli(*run_args(tiny_model_dir, data_dir, tmp_path)) == 0
        again = results_of(tmp_path)
        assert metrics(again) == metrics(clean)
        assert again["timing"]["cached"] == 0
        assert again["timing"]["cache"]["moved_aside"].startswith("cache.sqlite.corrupt-")
        assert (cache.parent / again["timing"]["cache"]["moved_aside"]).exists()


class TestModelIdentity:
    def test_another_dtype_under_the_same_name_is_refused(
        self,
        tiny_model_dir: Path,
        data_dir: Path,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """A changed identity stops with one line naming --overwrite; finished results stay."""
        assert run_cli(*run_args(tiny_model_dir, data_dir, tmp_path)) == 0
        before = results_of(tmp_path)
        args = run_args(tiny_model_dir, data_dir, tmp_path)
        args[args.index("float32")] = "bfloat16"
        capsys.readouterr()
        error_line(capsys, run_cli(*args), "another model identity", "--overwrite")
        assert results_of(tmp_path) == before
        assert run_cli(*args, "--overwrite") == 0
        assert results_of(tmp_path)["model"]["dtype"] == "bfloat16"

    def test_refusal_comes_after_the_arguments_are_checked(
        self,
        tiny_model_dir: Path,
        data_dir: Path,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """A run whose data folder is wrong says only that, not the identity refusal."""
        assert run_cli(*run_args(tiny_model_dir, data_dir, tmp_path)) == 0
        empty = tmp_path / "no-data"
        empty.mkdir()
        args = run_args(tiny_model_dir, empty, tmp_path)
        args[args.index("float32")] = "bfloat16"
        capsys.readouterr()
        line = error_line(capsys, run_cli(*args), str(empty))
        assert "identity" not in line
