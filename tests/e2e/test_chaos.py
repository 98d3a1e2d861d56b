"""Chaos: runs SIGKILLed at seeded points, and concurrent runs into one folder (subprocesses).

Each kill comes from the documented test hook `SBT_BENCH_TEST_KILL_AT` (sbt_bench.core.faults):
after the n-th committed cache put, after the samples are staged, or after results.json
is written. The restarts form a chain (each restart is the next one killed), so 20 kill
points cost 21 processes rather than 40.
"""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from sbt_bench.core.faults import KILL_ENV
from sbt_bench.results.folder import RESULTS_NAME, describe_samples, recover_folder
from sbt_bench.results.records import read_results
from tests.cli_runner import run_cli, sbt, tiny_run_args

MIX = "truthfulqa_mc2,ethics_cm,truthfulqa_gen"
N_KILLS = 20
SEED = 20261201


def run_args(model_dir: Path, data_dir: Path, out: Path, tasks: str = MIX) -> list[str]:
    return tiny_run_args(model_dir, data_dir, out, tasks, 3)


def cache_rows(folder: Path) -> int:
    path = folder / "cache.sqlite"
    if not path.exists():
        return 0
    db = sqlite3.connect(path)
    try:
        return int(db.execute("SELECT count(*) FROM responses").fetchone()[0])
    finally:
        db.close()


def assert_consistent(folder: Path) -> None:
    """results.json (if any) is whole and every samples file it names matches it."""
    path = folder / RESULTS_NAME
    if not path.exists():
        assert not list(folder.glob("samples_*.jsonl"))
        return
    doc = read_results(path).document
    for task, entry in doc["tasks"].items():
        name = entry["samples"]["file"]
        described = describe_samples(name, (folder / name).read_text()).model_dump()
        assert described == entry["samples"], task


def assert_same_results(resumed: Path, clean: Path) -> None:
    """Same tasks and metrics, and every samples line identical: log-likelihoods bit for bit.

    Missing requests are recomputed in the company the uninterrupted run computed them in
    (sbt_bench.evaluation.fetch), so nothing may differ, not even in the last float32 digit.
    """
    docs = [read_results(folder / RESULTS_NAME).document for folder in (resumed, clean)]
    assert docs[0]["tasks"].keys() == docs[1]["tasks"].keys()
    for task, entry in docs[1]["tasks"].items():
        other = docs[0]["tasks"][task]
        assert other["n_samples"] == entry["n_samples"]
        assert other["metrics"] == entry["metrics"], task
        name = entry["samples"]["file"]
        lines = [(folder / name).read_text().splitlines() for folder in (resumed, clean)]
        assert lines[0] == lines[1], task


def kill_points(total_puts: int) -> list[tuple[str, int]]:
    """20 seeded positions in a run's event sequence: put 1..T, samples staged, results written."""
    events = [("cache-put", i) for i in range(1, total_puts + 1)]
    events += [("commit-staged", 1), ("commit-written", 1)]
    chosen = sorted(random.Random(SEED).sample(range(len(events)), N_KILLS))
    return [events[i] for i in chosen]


@pytest.mark.slow
def test_sigkill_at_twenty_points_then_resume(
    tiny_model_dir: Path, data_dir: Path, tmp_path: Path
) -> None:
    """Every kill keeps what was committed; the last restart equals the uninterrupted run."""
    assert run_cli(*run_args(tiny_model_dir, data_dir, tmp_path / "clean")) == 0
    (clean_folder,) = (tmp_path / "clean").iterdir()
    total = cache_rows(clean_folder)
    assert total >= N_KILLS

    out = tmp_path / "chaos"
    args = run_args(tiny_model_dir, data_dir, out)
    done = 0
    for point, count in kill_points(total):
        local = count - done if point == "cache-put" else count
        proc = sbt(*args, env={KILL_ENV: f"{point}:{local}"})
        assert proc.returncode == -9, proc.stderr[-2000:]
        (folder,) = out.iterdir()
        rows = cache_rows(folder)
        # Each killed process computed exactly its `local` new responses: none twice.
        assert rows == (count if point == "cache-put" else total)
        done = rows
        recover_folder(folder)  # what the next start does first
        assert_consistent(folder)
        assert not list(folder.glob(".*.tmp"))

    proc = sbt(*args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    resumed = read_results(folder / RESULTS_NAME).document
    assert resumed["timing"]["cached"] == total  # nothing finished was computed again
    assert_same_results(folder, clean_folder)
    assert not [p.name for p in folder.iterdir() if p.name.endswith((".tmp", ".staged"))]


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return sbt(*args)


@pytest.mark.slow
@pytest.mark.parametrize("attempt", range(3))
def test_two_concurrent_runs_keep_both_tasks(
    tiny_model_dir: Path, data_dir: Path, tmp_path: Path, attempt: int
) -> None:
    """Two runs of different tasks into one output folder at once: results.json has both."""
    tasks = ("ethics_cm", "ethics_justice")
    runs = [run_args(tiny_model_dir, data_dir, tmp_path, task) for task in tasks]
    with ThreadPoolExecutor(2) as pool:
        procs = list(pool.map(_run, runs))
    for proc in procs:
        assert proc.returncode == 0, proc.stderr[-2000:]
    (folder,) = tmp_path.iterdir()
    doc = json.loads((folder / RESULTS_NAME).read_text())
    assert set(doc["tasks"]) == {"ethics_cm", "ethics_justice"}
    assert_consistent(folder)
