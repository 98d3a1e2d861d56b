"""Running the `sbt-bench` command in tests: in process, as a subprocess, and its results file.

`Commits` counts what a run commits to its response cache, and can stop it there like a kill.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


def run_cli(*args: str) -> int:
    """`sbt-bench *args` in this process; its exit status."""
    from sbt_bench.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    return int(exit_info.value.code or 0)


def results_of(out: Path) -> dict[str, Any]:
    """The one results.json a run wrote under `out`."""
    (path,) = out.glob("*/results.json")
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def sbt(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`sbt-bench *args` as a subprocess, offline and without SBT_DATA_DIR."""
    full_env = {k: v for k, v in os.environ.items() if k != "SBT_DATA_DIR"}
    full_env |= {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"} | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "sbt_bench", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    """Exit status 2, no traceback, one `sbt-bench: error:` line holding every needle."""
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("sbt-bench: error:")]
    assert len(errors) == 1, proc.stderr
    for needle in needles:
        assert needle in errors[0]


class CutError(Exception):
    """Stands in for a kill: the run stops right after a given number of cache commits."""


class Commits:
    """Counts responses committed to the cache; raises `CutError` after `stop_at` of them."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, stop_at: int | None = None) -> None:
        from sbt_bench.evaluation.cache import ResponseCache

        self.count = 0
        original = ResponseCache.put
        counter = self

        def put(self: ResponseCache, *args: Any, **kwargs: Any) -> None:
            if counter.count == stop_at:
                raise CutError
            original(self, *args, **kwargs)
            counter.count += 1

        monkeypatch.setattr(ResponseCache, "put", put)


def tiny_run_args(
    model_dir: Path, data_dir: Path, out: Path, tasks: str, limit: int, *extra: str
) -> list[str]:
    """`sbt-bench run` arguments for the first `limit` items of `tasks` on a local fp32 model."""
    return [
        "run",
        "--tasks",
        tasks,
        "--models",
        f"hf:{model_dir}",
        "--limit",
        str(limit),
        "--data-dir",
        str(data_dir),
        "--output-dir",
        str(out),
        "--dtype",
        "float32",
        *extra,
    ]
