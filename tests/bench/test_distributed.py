"""Data-parallel runs: 2 CPU processes (gloo) match a single process and share its cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sbt_bench.distributed import ProcessGroup
from tests.cli import results_of

TASKS = "truthfulqa_mc2,ethics_cm,truthfulqa_gen"


def run(model: Path, data: Path, out: Path, processes: int) -> dict[str, object]:
    launcher = (
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={processes}",
        ]
        if processes > 1
        else [sys.executable]
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [
            *launcher,
            "-m",
            "sbt_bench",
            "run",
            "--tasks",
            TASKS,
            "--models",
            f"hf:{model}",
            "--limit",
            "3",
            "--data-dir",
            str(data),
            "--output-dir",
            str(out),
            "--dtype",
            "float32",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return results_of(out)


def test_two_processes_match_one(tiny_model_dir: Path, data_dir: Path, tmp_path: Path) -> None:
    """Launching 2 gloo processes with torchrun writes one results file equal to a 1-process run."""
    single = run(tiny_model_dir, data_dir, tmp_path / "one", 1)
    double = run(tiny_model_dir, data_dir, tmp_path / "two", 2)
    assert double["timing"]["processes"] == 2  # type: ignore[index]
    for task in TASKS.split(","):
        got = double["tasks"][task]["metrics"]  # type: ignore[index]
        want = single["tasks"][task]["metrics"]  # type: ignore[index]
        assert got == pytest.approx(want, abs=1e-6)
    samples_one = next((tmp_path / "one").iterdir()) / "samples_truthfulqa_mc2.jsonl"
    samples_two = next((tmp_path / "two").iterdir()) / "samples_truthfulqa_mc2.jsonl"
    for a, b in zip(
        samples_one.read_text().splitlines(), samples_two.read_text().splitlines(), strict=True
    ):
        assert json.loads(a)["loglikelihoods"] == pytest.approx(
            json.loads(b)["loglikelihoods"], abs=1e-5
        )


def test_cache_is_shared_across_process_counts(
    tiny_model_dir: Path, data_dir: Path, tmp_path: Path
) -> None:
    """A 2-process run finds everything a 1-process run cached: nothing is computed again."""
    run(tiny_model_dir, data_dir, tmp_path, 1)
    again = run(tiny_model_dir, data_dir, tmp_path, 2)
    timing = again["timing"]
    assert timing["tokens_processed"] == 0  # type: ignore[index]
    assert timing["cached"] > 0  # type: ignore[index]


def test_shards_cover_every_request_once() -> None:
    """Each request goes to exactly one rank, and all requests of a context to the same one."""
    contexts = [f"context {i % 7}" for i in range(50)]
    shards = [
        [i for i, c in enumerate(contexts) if ProcessGroup(rank=r, world_size=3).owns(c)]
        for r in range(3)
    ]
    assert sorted(i for s in shards for i in s) == list(range(50))
    for s in shards:
        owned = {contexts[i] for i in s}
        assert all(contexts[i] not in owned for other in shards if other is not s for i in other)
