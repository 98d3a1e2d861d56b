"""The user's environment: a Latin-1 terminal, a HOME where nothing can be written."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from sbt_bench.core.errors import SbtError
from sbt_bench.media.images import save_embedded_image
from tests.cli_runner import sbt
from tests.e2e.bad_inputs import build_earlier


def test_a_latin1_terminal_gets_ascii_marks(data_dir: Path, tmp_path: Path) -> None:
    """The partial-run mark prints as '+' under a Latin-1 locale, exit 0, no traceback."""
    out = build_earlier(data_dir, tmp_path)
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: p\ndescription: d\ncolumns:\n  - {label: F1, task: pope_random, metric: f1}\n"
    )
    proc = sbt("leaderboard", str(out), "--spec", str(spec), env={"PYTHONIOENCODING": "latin-1"})
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert re.search(r"\d\+", proc.stdout), proc.stdout  # 0.6667+ for 0.6667\u2020
    assert "\u2020" not in proc.stdout


def test_a_home_that_cannot_be_written_names_sbt_cache_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writing the image cache under a HOME that is a file says to set SBT_CACHE_DIR."""
    home = tmp_path / "home"
    home.write_text("not a folder")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SBT_CACHE_DIR", raising=False)
    with pytest.raises(SbtError, match="SBT_CACHE_DIR") as refused:
        save_embedded_image({"bytes": b"\x89PNG not really"}, "my_task", 0)
    assert "\n" not in str(refused.value)


def test_sbt_cache_dir_moves_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With SBT_CACHE_DIR set, the same write lands there whatever HOME is."""
    home = tmp_path / "home"
    home.write_text("not a folder")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("SBT_CACHE_DIR", str(tmp_path / "cache"))
    path = save_embedded_image({"bytes": b"\x89PNG not really"}, "my_task", 0)
    assert path.is_relative_to(tmp_path / "cache")
    shutil.rmtree(tmp_path / "cache")
