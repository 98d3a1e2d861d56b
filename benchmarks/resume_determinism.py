"""Resumed and multi-process runs against one uninterrupted run: per-choice log-likelihoods.

Command (repository root)::

    python benchmarks/resume_determinism.py --model smollm2 --questions 40 --cuts 213 --processes 2

Runs `sbt-bench run` on TruthfulQA mc1+mc2 once uninterrupted; then, for each cut, copies
that run's cache keeping only its first N committed responses (what a kill after N
commits leaves) and resumes it; then runs under `torchrun --nproc_per_node P`. Prints one
row per run: items whose log-likelihoods differ from the uninterrupted run, the largest
absolute difference, mc2, and the run's wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TASKS = ("truthfulqa_mc1", "truthfulqa_mc2")


def run(args: argparse.Namespace, out: Path, processes: int = 1) -> float:
    """One `sbt-bench run` into `out`; its wall time in seconds."""
    launcher = [sys.executable]
    if processes > 1:
        launcher += ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    command = [
        *launcher,
        *("-m", "sbt_bench", "run", "--tasks", ",".join(TASKS), "--models", args.model),
        *("--limit", str(args.questions), "--data-dir", args.data_dir),
        *("--output-dir", str(out), "--dtype", "float32"),
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(args.threads)}
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def loglikelihoods(out: Path) -> dict[str, list[list[float]]]:
    """Per task, every item's per-choice log-likelihoods."""
    (folder,) = (p for p in out.iterdir() if p.is_dir())
    return {
        task: [
            json.loads(line)["loglikelihoods"]
            for line in (folder / f"samples_{task}.jsonl").read_text().splitlines()
        ]
        for task in TASKS
    }


def mc2(out: Path) -> float:
    """The run's TruthfulQA mc2."""
    (path,) = out.glob("*/results.json")
    return float(json.loads(path.read_text())["tasks"]["truthfulqa_mc2"]["metrics"]["acc"])


def keep_first(source: Path, target: Path, n: int) -> None:
    """Copy the run folder, its cache cut to the first `n` committed responses."""
    shutil.copytree(source, target)
    for stale in target.glob("*/*.json*"):
        stale.unlink()
    (cache,) = target.glob("*/cache.sqlite")
    with sqlite3.connect(cache) as db:
        db.execute("DELETE FROM responses WHERE rowid > ?", (n,))


def compare(reference: dict[str, list[list[float]]], got: dict[str, list[list[float]]]) -> str:
    """Items differing, of all items, and the largest absolute difference."""
    pairs = [(a, b) for task in TASKS for a, b in zip(reference[task], got[task], strict=True)]
    differing = sum(a != b for a, b in pairs)
    worst = max(abs(x - y) for a, b in pairs for x, y in zip(a, b, strict=True))
    return f"{differing} of {len(pairs)} | {worst:.1e}"


def main() -> None:
    """Print one markdown row per run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--questions", type=int, default=40)
    parser.add_argument("--cuts", default="213", help="comma-separated commit counts")
    parser.add_argument("--processes", type=int, default=2, help="0 skips the torchrun run")
    parser.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS of every run")
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "sbt-determinism"))
    args = parser.parse_args()
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    seconds = run(args, work / "whole")
    reference = loglikelihoods(work / "whole")
    print(f"{args.model}, TruthfulQA mc1+mc2, {args.questions} questions\n")
    print("| run | items differing | max abs dLL | mc2 | seconds |")
    print("|---|---:|---:|---:|---:|")
    print(f"| uninterrupted | - | - | {mc2(work / 'whole'):.10f} | {seconds:.1f} |", flush=True)
    for cut in (int(c) for c in args.cuts.split(",")):
        out = work / f"cut{cut}"
        keep_first(work / "whole", out, cut)
        seconds = run(args, out)
        row = compare(reference, loglikelihoods(out))
        print(f"| resumed after {cut} | {row} | {mc2(out):.10f} | {seconds:.1f} |", flush=True)
    if args.processes > 1:
        out = work / f"x{args.processes}"
        seconds = run(args, out, args.processes)
        row = compare(reference, loglikelihoods(out))
        label = f"{args.processes} processes"
        print(f"| {label} | {row} | {mc2(out):.10f} | {seconds:.1f} |", flush=True)


if __name__ == "__main__":
    main()
