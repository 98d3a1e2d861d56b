"""Every Eval Ever instance-level lines: one per scored item, from a task's samples file.

Each line links to the task's headline per-item result (`evaluation_result_id`
`<task>/<metric>`): the task's first 0/1 score (`acc`, `correct`, `bleu_acc`) where it
has one, else its first score (mc2's mass). Every other per-item score rides along in
`metadata` as `score.<name>`, so the line holds everything the samples file scored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from sbt_bench.core.types import ItemResult

EEE_SCHEMA_VERSION = "0.3.0"
# Scores that record the answer, not its correctness (POPE's parsed yes/no).
_BOOKKEEPING = ("pred_yes", "parsed")


def headline_score(entry: Mapping[str, Any], items: Sequence[ItemResult]) -> str | None:
    """The per-item score the lines report: the first 0/1 one, else the first at all."""
    names = [n for n in dict.fromkeys(k for i in items for k in i.scores) if n not in _BOOKKEEPING]
    binary = [n for n in names if all(i.scores.get(n) in (0.0, 1.0) for i in items)]
    metrics = set(entry.get("metrics", {}))
    for candidates in (binary, names):
        for name in candidates:
            return name if name in metrics or not metrics else _result_metric(name, metrics)
    return None


def _result_metric(score: str, metrics: set[str]) -> str:
    """The aggregate metric an item score feeds: `correct` feeds `accuracy`."""
    if score == "correct" and "accuracy" in metrics:
        return "accuracy"
    return score


def instance_lines(
    task: str,
    entry: Mapping[str, Any],
    items: Sequence[ItemResult],
    evaluation_id: str,
    model_id: str,
) -> list[dict[str, Any]]:
    """The task's instance-level records, one per scored item, in samples order."""
    metric = headline_score(entry, items)
    score_name = "correct" if metric == "accuracy" else metric
    lines = []
    for item in items:
        sample = item.sample
        references = _references(item)
        value = float(item.scores.get(score_name or "", 0.0))
        lines.append(
            {
                "schema_version": EEE_SCHEMA_VERSION,
                "evaluation_id": evaluation_id,
                "model_id": model_id,
                "evaluation_name": task,
                "evaluation_result_id": f"{task}/{metric}" if metric else task,
                "sample_id": sample.id,
                "sample_hash": hashlib.sha256(
                    (sample.context + "\x1f" + "\x1f".join(references)).encode()
                ).hexdigest(),
                "interaction_type": "single_turn",
                "input": {
                    "raw": sample.context,
                    "reference": references,
                    "choices": list(sample.choices) or None,
                },
                "output": {"raw": [item.generation or item.prediction]},
                "messages": None,
                "answer_attribution": [
                    {
                        "turn_idx": 0,
                        "source": "output.raw",
                        "extracted_value": item.prediction,
                        "extraction_method": item.protocol or "custom",
                        "is_terminal": True,
                    }
                ],
                "evaluation": {"score": value, "is_correct": value >= 1.0},
                "metadata": _metadata(item),
            }
        )
    return lines


def _references(item: ItemResult) -> list[str]:
    sample = item.sample
    if sample.choices and sample.gold:
        return [sample.choices[i] for i in sample.gold]
    return list(sample.references)


def _metadata(item: ItemResult) -> dict[str, str]:
    sample = item.sample
    meta = {f"score.{k}": repr(float(v)) for k, v in item.scores.items()}
    for key in ("subset", "pair", "cluster"):
        if value := getattr(sample, key):
            meta[key] = str(value)
    if sample.images:
        meta["images"] = " ".join(str(i) for i in sample.images)
    return meta
