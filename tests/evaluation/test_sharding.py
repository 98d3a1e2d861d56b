"""Data-parallel runs: 2 CPU processes (gloo) equal a single process and share its cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sbt_bench.evaluation.sharding import ProcessGroup
from tests.cli_runner import results_of

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
            # Several packed rows and batches, so that shards are really split.
            "--max-batch-tokens",
            "160",
            "--batch-size",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return results_of(out)


def test_two_processes_equal_one_bit_for_bit(
    tiny_model_dir: Path, data_dir: Path, tmp_path: Path
) -> None:
    """2 gloo processes under torchrun give every metric, log-likelihood and generation ==."""
    single = run(tiny_model_dir, data_dir, tmp_path / "one", 1)
    double = run(tiny_model_dir, data_dir, tmp_path / "two", 2)
    assert double["timing"]["processes"] == 2  # type: ignore[index]
    for task in TASKS.split(","):
        assert double["tasks"][task] == single["tasks"][task]  # type: ignore[index]
        one = next((tmp_path / "one").iterdir()) / f"samples_{task}.jsonl"
        two = next((tmp_path / "two").iterdir()) / f"samples_{task}.jsonl"
        assert [json.loads(line) for line in two.read_text().splitlines()] == [
            json.loads(line) for line in one.read_text().splitlines()
        ]


def test_cache_is_shared_across_process_counts(
    tiny_model_dir: Path, data_dir: Path, tmp_path: Path
) -> None:
    """A 2-process run finds everything a 1-process run cached: nothing is computed again."""
    run(tiny_model_dir, data_dir, tmp_path, 1)
    again = run(tiny_model_dir, data_dir, tmp_path, 2)
    timing = again["timing"]
    assert timing["tokens_processed"] == 0  # type: ignore[index]
    assert timing["cached"] > 0  # type: ignore[index]


def test_shares_partition_the_items() -> None:
    """Each planned group goes to exactly one of 3 ranks, and the ranks get like amounts."""
    groups = [[i, i + 100] for i in range(50)]
    shares = [ProcessGroup(rank=r, world_size=3).share(groups) for r in range(3)]
    assert sorted(g for share in shares for g in share) == groups
    assert [len(share) for share in shares] == [17, 17, 16]
