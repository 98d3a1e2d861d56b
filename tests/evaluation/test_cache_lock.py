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
