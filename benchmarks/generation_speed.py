"""Generation throughput of the hf backend on `truthfulqa_gen` (greedy, stop at a blank line).

Command (repository root)::

    python benchmarks/generation_speed.py --model smollm2 --questions 16 --batch-sizes 1,4,8

Prints one row per batch size: questions, generated tokens, seconds, tokens per second
and the speed-up over batch size 1. Model loading is excluded; the tokens are those the
model generated (up to each row's stop), counted by the backend.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from sbt_bench.backends import BackendOptions, parse_model_spec
from sbt_bench.backends.hf import HFBackend
from sbt_bench.evaluation.runner import RunConfig, plan_task
from sbt_bench.tasks import TASKS, build_task

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    """Time generation at each batch size and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2", help="any sbt-bench model spec")
    parser.add_argument("--questions", type=int, default=16)
    parser.add_argument("--batch-sizes", default="1,4,8")
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    args = parser.parse_args()

    data_dir = Path(args.data_dir)
    cfg = RunConfig(data_dir, BackendOptions(), limit=args.questions, data_dir=data_dir)
    plan = plan_task(build_task(TASKS.get("truthfulqa_gen")), cfg)
    requests = [r for sample_requests in plan.requests for r in sample_requests]
    spec = parse_model_spec(args.model)
    backend = HFBackend(spec, BackendOptions(device=args.device, dtype=args.dtype))
    print(f"model {spec.name} on {args.device} ({args.dtype}), {len(requests)} questions\n")
    print("| batch size | questions | generated tokens | seconds | tokens/s | speed-up |")
    print("|---:|---:|---:|---:|---:|---:|")
    base = None
    for size in (int(b) for b in args.batch_sizes.split(",")):
        backend.batch_size = size
        backend.tokens_generated = 0
        start = time.perf_counter()
        list(backend.generate(requests))
        seconds = time.perf_counter() - start
        rate = backend.tokens_generated / seconds
        base = base or rate
        print(
            f"| {size} | {len(requests)} | {backend.tokens_generated} | {seconds:.1f} "
            f"| {rate:.1f} | {rate / base:.2f}x |"
        )


if __name__ == "__main__":
    main()
