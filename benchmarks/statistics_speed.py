"""Time of the statistics for 5 models x 20 tasks with 10,000 resamples (issue 11: under 5 s).

Command (repository root)::

    python benchmarks/statistics_speed.py [--resamples 10000] [--seed 0]

Synthetic scored items at the real tasks' sizes (TruthfulQA 817, ETHICS and ETHICS-hard
at their test sizes, POPE 3 x 3,000 on 500 images, MME 2,374 on 1,187 images, Sketchy
and OODCV on their images), five models, each a noisy copy of a base so pairs correlate.
Timed: every model's results.json error bars (`task_estimates`), then BASE against each
of the four others (`compare_items` and Holm), exactly the calls `run` and `compare`
make once the samples are read. Building the synthetic items is not timed.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sbt_bench.core.types import ItemResult, Sample
from sbt_bench.metrics.paired import adjust_holm
from sbt_bench.tasks.aggregators import MME_COGNITION, MME_PERCEPTION
from sbt_bench.tasks.error_bars import compare_items, task_estimates

N_MODELS = 5


@dataclass(frozen=True)
class Shape:
    """A synthetic task: aggregator, items, questions per image (0: independent items)."""

    name: str
    aggregate: str
    n_items: int
    per_image: int = 0
    continuous: bool = False


TASKS = (
    Shape("truthfulqa_mc1", "mean", 817),
    Shape("truthfulqa_mc2", "mean", 817, continuous=True),
    *(Shape(f"ethics_{s}", "mean", n) for s, n in (
        ("cm", 3885), ("deontology", 3596), ("justice", 2704), ("utilitarianism", 4808),
        ("virtue", 4975), ("cm_hard", 3964), ("deontology_hard", 3536), ("justice_hard", 2052),
        ("utilitarianism_hard", 4272), ("virtue_hard", 4780),
    )),
    *(Shape(f"pope_{s}", "binary", 3000, 6) for s in ("random", "popular", "adversarial")),
    Shape("mme", "mme", 2374, 2),
    Shape("unicorn_sketchy", "binary", 1000, 2),
    Shape("unicorn_sketchy_challenging", "binary", 1000, 2),
    Shape("unicorn_oodcv", "oodcv", 2000, 4),
    Shape("truthfulqa_gen", "mean", 817, continuous=True),
)  # fmt: skip


def synthetic_items(shape: Shape, rng: np.random.Generator) -> list[list[ItemResult]]:
    """N_MODELS item lists of one task; model m agrees with the base on ~(85 - 5 m)% of items."""
    golds = rng.integers(0, 2, shape.n_items)
    base = (rng.random(shape.n_items) < 0.7).astype(float)
    subtasks = (*MME_PERCEPTION, *MME_COGNITION)
    models = []
    for m in range(N_MODELS):
        flip = rng.random(shape.n_items) < 0.05 * m
        right = np.where(flip, 1 - base, base)
        items = []
        for i in range(shape.n_items):
            image = str(i // shape.per_image) if shape.per_image else ""
            gold = ("no", "yes")[golds[i]] if shape.aggregate != "oodcv" else ("Yes", "3")[i % 2]
            answer = gold if right[i] else {"yes": "no", "no": "yes"}.get(gold, "4")
            sample = Sample(
                id=str(i),
                context="q",
                references=(gold,),
                subset=subtasks[(i // 2) % len(subtasks)] if shape.aggregate == "mme" else "",
                pair=image,
                cluster=image,
            )
            score = float(rng.beta(2, 3)) if shape.continuous else float(right[i])
            scores = {"acc": score, "correct": float(right[i]), "parsed": 1.0}
            scores["pred_yes"] = float(answer == "yes")
            items.append(ItemResult(sample=sample, prediction=answer, scores=scores))
        models.append(items)
    return models


def metric_names(shape: Shape) -> tuple[str, ...]:
    """The metrics the mean aggregator reads (the others name their own)."""
    return ("acc",) if shape.aggregate == "mean" else ()


def time_statistics(
    data: Sequence[tuple[Shape, list[list[ItemResult]]]], resamples: int, seed: int
) -> tuple[tuple[float, float], tuple[float, float], int]:
    """(wall, CPU) seconds of all models' error bars and of the 4 comparisons; row count.

    CPU time is what the work costs on an idle machine; wall time includes waiting for
    cores other processes hold.
    """
    start, cpu = time.perf_counter(), time.process_time()
    for shape, models in data:
        for items in models:
            task_estimates(
                shape.aggregate, items, metric_names(shape), resamples=resamples, seed=seed
            )
    estimates = time.perf_counter() - start, time.process_time() - cpu
    start, cpu = time.perf_counter(), time.process_time()
    rows = 0
    for m in range(1, N_MODELS):
        comparison = []
        for shape, models in data:
            comparison += compare_items(
                shape.aggregate,
                models[0],
                models[m],
                metric_names(shape),
                resamples=resamples,
                seed=seed,
            )
        rows += len(adjust_holm(comparison))
    return estimates, (time.perf_counter() - start, time.process_time() - cpu), rows


def main() -> None:
    """Print a markdown table of the timed phases."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--resamples", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    data = [(shape, synthetic_items(shape, rng)) for shape in TASKS]
    n_items = sum(shape.n_items for shape in TASKS)
    estimates, comparisons, rows = time_statistics(data, args.resamples, args.seed)
    print(f"{N_MODELS} models x {len(TASKS)} tasks ({n_items} items per model), "
          f"{args.resamples} resamples")  # fmt: skip
    print()
    print("| phase | what | wall s | CPU s |")
    print("|---|---|---:|---:|")
    phases = (
        ("error bars", f"{N_MODELS} models x {len(TASKS)} tasks (results.json)", estimates),
        ("compare", f"base vs {N_MODELS - 1} others, {rows} rows, Holm", comparisons),
        ("total", "", (estimates[0] + comparisons[0], estimates[1] + comparisons[1])),
    )
    for phase, what, (wall, cpu) in phases:
        print(f"| {phase} | {what} | {wall:.2f} | {cpu:.2f} |")


if __name__ == "__main__":
    main()
