"""Synthetic results folders in the real format (results.json + samples files) for report tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sbt_bench.core.files import write_atomic
from sbt_bench.core.types import ItemResult, Sample
from sbt_bench.metrics.stats import mean, stderr_of_mean, stderr_of_mean_of_means
from sbt_bench.results.records import new_results, render_samples, save_results
from sbt_bench.results.schema import ModelIdentity, RecordedConfig, RunResults, TaskResult

ETHICS = (
    "ethics_cm",
    "ethics_deontology",
    "ethics_justice",
    "ethics_utilitarianism",
    "ethics_virtue",
)


def write_run(
    folder: Path,
    name: str,
    accuracy: dict[str, float],
    *,
    n_items: int = 120,
    limit: int | None = None,
    seed: int = 0,
    answer: str = "yes",
) -> Path:
    """A model folder whose tasks score 0/1 `acc` near `accuracy[task]` (mc2 continuous).

    Items are drawn with one seed for every model, so two runs with different accuracies
    share most answers and differ on a few items, as paired runs do.
    """
    settings = RecordedConfig(limit=limit, seed=0, data_dir="synthetic")
    doc = new_results(ModelIdentity(name=name), settings).document
    n = n_items if limit is None else min(limit, n_items)
    for task, target in accuracy.items():
        rng = np.random.default_rng([seed, sum(map(ord, task))])
        uniform = rng.random(n)
        scores = (
            uniform < target if task != "truthfulqa_mc2" else np.clip(uniform + target - 0.5, 0, 1)
        )
        items = [_item(i, float(s), answer, task) for i, s in enumerate(scores)]
        write_atomic(folder / f"samples_{task}.jsonl", render_samples(items))
        values = [float(s) for s in scores]
        doc["tasks"][task] = TaskResult(
            task=task,
            version="1",
            spec_hash="synthetic",
            n_samples=n,
            n_available=n_items,
            limit=limit,
            metrics={"acc": mean(values)},
            stderr={"acc": stderr_of_mean(values)},
            data_source="synthetic",
            n_requests=2 * n,
        ).document
    members = [t for t in ETHICS if t in doc["tasks"]]
    if members == list(ETHICS):
        accs = [doc["tasks"][t]["metrics"]["acc"] for t in members]
        errs = [doc["tasks"][t]["stderr"]["acc"] for t in members]
        doc["groups"]["ethics"] = {
            "tasks": members,
            "metrics": {"acc": mean(accs)},
            "stderr": {"acc": stderr_of_mean_of_means(errs)},
        }
    save_results(folder / "results.json", RunResults.from_document(doc))
    return folder


def write_pair(root: Path, base: Sequence[float], better: Sequence[float]) -> list[Path]:
    """Two runs, `base` and `better`, on mc1, mc2 and the five ETHICS subsets."""
    tasks = ("truthfulqa_mc1", "truthfulqa_mc2", *ETHICS)
    return [
        write_run(root / name, name, dict(zip(tasks, accs, strict=True)))
        for name, accs in (("base", base), ("better", better))
    ]


def _item(i: int, score: float, answer: str, task: str) -> ItemResult:
    sample = Sample(
        id=str(i),
        context=f"Q: question {i} of {task}?\nA:",
        choices=(" yes", " no"),
        gold=(0,),
    )
    prediction = answer if score >= 0.5 else "no"
    return ItemResult(
        sample=sample,
        prediction=prediction,
        scores={"acc": score},
        loglikelihoods=(-1.0, -2.0),
        is_greedy=(True, False),
    )
