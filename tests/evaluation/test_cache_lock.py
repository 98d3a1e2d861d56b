"""A response cache locked by another process: the run says who holds it, waits, then one line."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from sbt_bench.core.errors import SbtError
from sbt_bench.evaluation import cache as cache_module
from sbt_bench.evaluation.cache import ResponseCache

HOLD = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("CREATE TABLE IF NOT EXISTS t (x)")
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(30)
"""


def test_a_locked_cache_names_its_holder_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The warning and the final error name the holding process and say what to do."""
    path = tmp_path / "cache.sqlite"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        monkeypatch.setattr(cache_module, "_LOCK_WAIT_S", 1)
        start = time.monotonic()
        with pytest.raises(SbtError) as refused:
            ResponseCache(path, "model")
        assert time.monotonic() - start < 10
    finally:
        holder.kill()
        holder.wait()
    message = str(refused.value)
    assert "\n" not in message
    assert f"process {holder.pid}" in message
    assert "--output-dir" in message
    assert any(f"process {holder.pid}" in r.getMessage() for r in caplog.records)


def test_no_wait_refuses_a_locked_cache_at_once(tmp_path: Path) -> None:
    """With --no-wait the run stops at once, naming the holder, without waiting."""
    path = tmp_path / "cache.sqlite"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        start = time.monotonic()
        with pytest.raises(SbtError, match=f"process {holder.pid}.*--no-wait"):
            ResponseCache(path, "model", wait=False)
        assert time.monotonic() - start < 5
    finally:
        holder.kill()
        holder.wait()


def test_run_takes_no_wait() -> None:
    """`run --no-wait` reaches the runner's configuration."""
    from sbt_bench.cli.parser import build_parser
    from sbt_bench.evaluation.config import RunSettings

    args = build_parser().parse_args(
        ["run", "--tasks", "ethics_cm", "--models", "smollm2", "--no-wait"]
    )
    assert RunSettings.from_cli(args).no_wait
