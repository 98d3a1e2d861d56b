"""Extending sbt-bench as docs/ARCHITECTURE.md shows: a YAML-only task, a one-line scorer."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from sbt_bench.backends import BackendOptions
from sbt_bench.core.registry import Registry
from sbt_bench.core.types import Response
from sbt_bench.evaluation.runner import RunConfig, plan_task, score_task
from sbt_bench.metrics import GENERATION_SCORERS, METRIC_DIRECTIONS, ItemScorer
from sbt_bench.tasks import build_task
from sbt_bench.tasks.loader import register_all
from sbt_bench.tasks.spec import GroupSpec, TaskSpec

ITEMS = [
    {"question": "Is lying to a friend for gain honest?", "options": ["yes", "no"], "answer": 1},
    {"question": "Is returning a lost wallet kind?", "options": ["yes", "no"], "answer": 0},
    {"question": "Is 2 + 2 = 5?", "options": ["yes", "no", "maybe"], "answer": 1},
]

MC_YAML = """\
task: honesty_mc
version: "1.0"
kind: multiple_choice
description: "Yes/no questions about honesty, scored by log-likelihood"
dataset:
  split: test
  local_file: honesty/items.jsonl
  reader: json_lines
prompt: "Question: {question}\\nAnswer:"
multiple_choice:
  choices_field: options
  target_field: answer
  metrics:
    acc: choice_accuracy
"""

GEN_YAML = """\
task: honesty_gen
version: "1.0"
kind: generation
description: "The same questions answered in words, scored by the first word"
dataset:
  split: test
  local_file: honesty/items.jsonl
  reader: json_lines
prompt: "Question: {question}\\nAnswer in one word:"
generation:
  max_new_tokens: 4
  references_field: gold_word
  scorer: first_word_match
"""


def write_task(tmp_path: Path, yaml_text: str, items: Sequence[dict[str, object]]) -> TaskSpec:
    """Register one YAML task from a fresh folder, with its JSON-lines data beside it."""
    data = tmp_path / "data" / "honesty"
    data.mkdir(parents=True)
    (data / "items.jsonl").write_text("\n".join(json.dumps(i) for i in items) + "\n")
    root = tmp_path / "tasks"
    root.mkdir()
    name = yaml_text.split("\n", 1)[0].removeprefix("task: ")
    (root / f"{name}.yaml").write_text(yaml_text)
    tasks: Registry[TaskSpec] = Registry("task")
    register_all(root, tasks, Registry[GroupSpec]("group"))
    return tasks.get(name)


def config(tmp_path: Path) -> RunConfig:
    """A run over the test's data folder."""
    return RunConfig(
        output_dir=tmp_path / "out", options=BackendOptions(), data_dir=tmp_path / "data"
    )


def test_a_multiple_choice_task_needs_only_a_yaml_file(tmp_path: Path) -> None:
    """A YAML file over a JSON-lines file is a working task: prompts, continuations, accuracy."""
    spec = write_task(tmp_path, MC_YAML, ITEMS)
    plan = plan_task(build_task(spec), config(tmp_path))
    assert [len(r) for r in plan.requests] == [2, 2, 3]
    first = plan.requests[0]
    assert first[0].context == "Question: Is lying to a friend for gain honest?\nAnswer:"
    assert [r.continuation for r in first] == [" yes", " no"]
    # Log-likelihoods that pick "yes" every time: right on item 1 only (gold 0), so acc 1/3.
    responses = [
        Response(logprob=-1.0 if r.continuation == " yes" else -2.0)
        for rs in plan.requests
        for r in rs
    ]
    outcome = score_task(plan, responses, config(tmp_path))
    assert outcome.result.n_samples == 3
    assert outcome.result.metrics["acc"] == 1 / 3


def first_word_match(
    answer: str, references: Sequence[str], _negatives: Sequence[str]
) -> dict[str, float]:
    """1 when the answer's first word is a reference (case-insensitive), else 0."""
    words = answer.lower().split()
    return {"acc": float(bool(words) and words[0].strip(".,!") in {r.lower() for r in references})}


def test_a_new_scorer_is_one_registration(tmp_path: Path) -> None:
    """One GENERATION_SCORERS.register call makes a scorer (and its outputs) a YAML can name."""
    if "first_word_match" not in GENERATION_SCORERS:
        GENERATION_SCORERS.register(
            "first_word_match",
            ItemScorer(first_word_match, METRIC_DIRECTIONS.declare({"acc": True})),
        )
    items = [{**item, "gold_word": item["options"][item["answer"]]} for item in ITEMS]  # type: ignore[index]
    spec = write_task(tmp_path, GEN_YAML, items)
    task = build_task(spec)
    assert task.metric_names() == ("acc",)
    assert task.higher_is_better("acc") is True
    plan = plan_task(task, config(tmp_path))
    answers = ["No.", "Maybe", "no, never"]  # right, wrong, right
    outcome = score_task(plan, [Response(text=a) for a in answers], config(tmp_path))
    assert outcome.result.metrics["acc"] == 2 / 3
    assert [item.scores["acc"] for item in outcome.items] == [1.0, 0.0, 1.0]
