"""Synthetic results folders in the real format (results.json + samples files) for report tests."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sbt_bench.core.files import write_atomic
from sbt_bench.core.types import ItemResult, Sample
from sbt_bench.metrics.stats import mean, stderr_of_mean, stderr_of_mean_of_means
from sbt_bench.results.records import new_results, render_samples, save_results
from sbt_bench.results.schema import ModelIdentity, RecordedConfig, RunResults, TaskResult
from tests.cli_runner import run_cli
from tests.vision_data import link_question_files

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


def score_vision_pair(data_dir: Path, root: Path) -> tuple[Path, str]:
    """Two answer sets scored on two MME subtasks and POPE random: an output dir, base name."""
    data = root / "data"
    link_question_files(data_dir, data)
    mme = data / "mme" / "Your_Results"
    mme.unlink()
    mme.mkdir()
    pope = (data_dir / "pope" / "coco_pope_random.json").read_text().splitlines()[:12]
    out = root / "out"
    for model, flip_every in (("base", 3), ("tuned", 5)):
        answers = root / model
        answers.mkdir()
        for source in (data_dir / "mme" / "Your_Results").glob("*.txt"):
            # Eight questions (four images) of two subtasks; the other files empty.
            keep = 8 if source.stem in ("existence", "count") else 0
            lines = source.read_text(encoding="utf-8").splitlines()[:keep]
            (mme / source.name).write_text("".join(f"{q}\n" for q in lines), encoding="utf-8")
            golds = [q.rsplit("\t", 1)[1] for q in lines]
            replies = [
                g if i % flip_every else {"Yes": "No"}.get(g, "Yes") for i, g in enumerate(golds)
            ]
            rows = [f"{q}\t{a}\n" for q, a in zip(lines, replies, strict=True)]
            (answers / source.name).write_text("".join(rows), encoding="utf-8")
        pope_rows = []
        for i, line in enumerate(pope):
            item = json.loads(line)
            label = item["label"] if i % flip_every else {"yes": "no"}.get(item["label"], "yes")
            pope_rows.append(json.dumps({"question_id": item["question_id"], "text": label}))
        pope_file = root / "pope" / f"{model}.jsonl"
        pope_file.parent.mkdir(exist_ok=True)
        pope_file.write_text("\n".join(pope_rows) + "\n")
        # One --name for both answer files: MME and POPE fill one model's folder.
        common = ("--data-dir", str(data), "--output-dir", str(out), "--name", model)
        assert run_cli("score", "mme", "--predictions", str(answers), *common) == 0
        assert (
            run_cli(
                "score", "pope_random", "--predictions", str(pope_file), "--limit", "12", *common
            )
            == 0
        )
    return out, "base"
