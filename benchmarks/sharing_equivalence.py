"""Per-log-likelihood agreement of prefix-shared and plain scoring on a real model.

Command (repository root)::

    python benchmarks/sharing_equivalence.py --model hf:/tmp/sbt-compare/smollm2-135m-instruct-hf \
        --questions 20 --dtypes float32,float64

For each dtype it scores TruthfulQA mc1+mc2 choices of the first N questions with the
plain path (lm-eval's: one sequence per choice) at batch size 1 as the reference, and
prints the largest absolute log-likelihood difference of the plain path at batch 8 and of
prefix-shared scoring at the CPU default and at other row budgets. float64 shows the
maths is the same; float32 differences are accumulation-order rounding.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sbt_bench.backends import BackendOptions, parse_model_spec
from sbt_bench.backends.hf import HFBackend
from sbt_bench.core.types import Request
from sbt_bench.evaluation.runner import RunConfig, plan_task
from sbt_bench.tasks import TASKS, build_task

REPO = Path(__file__).resolve().parent.parent


def truthfulqa_requests(data_dir: Path, questions: int) -> list[Request]:
    """Distinct mc1 and mc2 requests of the first `questions` questions."""
    requests: dict[str, Request] = {}
    cfg = RunConfig(data_dir, BackendOptions(), limit=questions, data_dir=data_dir)
    for name in ("truthfulqa_mc1", "truthfulqa_mc2"):
        for sample_requests in plan_task(build_task(TASKS.get(name)), cfg).requests:
            requests |= {request.key(): request for request in sample_requests}
    return list(requests.values())


def main() -> None:
    """Print one markdown row per (dtype, configuration)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    args = parser.parse_args()
    requests = truthfulqa_requests(Path(args.data_dir), args.questions)
    spec = parse_model_spec(args.model)
    configs = [
        ("plain, batch 8", False, 8, None),
        ("shared, 512-token rows", True, 8, None),
        ("shared, 128-token rows", True, 8, 128),
        ("shared, 2048-token rows", True, 8, 2048),
    ]
    print(f"{len(requests)} requests from {args.questions} questions\n")
    print("| dtype | configuration | max abs dLL vs plain batch 1 | is_greedy differences |")
    print("|---|---|---:|---:|")
    for dtype in args.dtypes.split(","):
        reference = dict(
            HFBackend(
                spec, BackendOptions(dtype=dtype, batch_size=1, prefix_sharing=False)
            ).loglikelihood(requests)
        )
        for label, sharing, batch, tokens in configs:
            options = BackendOptions(
                dtype=dtype, batch_size=batch, max_batch_tokens=tokens, prefix_sharing=sharing
            )
            got = dict(HFBackend(spec, options).loglikelihood(requests))
            worst = max(
                abs(float(got[i].logprob) - float(reference[i].logprob))  # type: ignore[arg-type]
                for i in reference
            )
            flips = sum(got[i].is_greedy != reference[i].is_greedy for i in reference)
            print(f"| {dtype} | {label} | {worst:.2e} | {flips} |", flush=True)


if __name__ == "__main__":
    main()
