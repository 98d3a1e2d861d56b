"""The parts of an Every Eval Ever result entry, from one task's results.json entry.

`score_details` carries the error bar as results.json has it (standard error and its
method, the 95% interval and its method, items, bootstrap resamples); `metric_config`
the metric's direction, unit and range and, for GAVIE, its LLM judge (`llm_scoring`);
`source_data` the data file or hub dataset and its revision; `generation_config` the
task's prompt and the prompt settings recorded under `prompt`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from sbt_bench.metrics.intervals import DEFAULT_RESAMPLES
from sbt_bench.tasks import TASKS
from sbt_bench.tasks.gavie_judge import GAVIE_CRITERIA, GAVIE_HEADER, MAX_SCORE

# Metrics where a lower number is better; every other metric is "higher is better"
# (`yes_ratio` has no better side: 0.5 is balanced, said in additional_details).
LOWER_IS_BETTER = frozenset({"unparseable", "unparsed_judgements", "CIDEr_drop"})
NO_DIRECTION = frozenset({"yes_ratio"})
_MME_RANGES = {"perception": 2000.0, "cognition": 800.0, "total": 2800.0}


def metric_range(task: str, metric: str, entry: Mapping[str, Any]) -> tuple[float, float] | None:
    """The metric's possible range where it is known (None: unbounded or unknown)."""
    if metric in _MME_RANGES:
        return 0.0, _MME_RANGES[metric]
    if metric.endswith("_diff") and metric.startswith(("bleu", "rouge")):
        return -100.0, 100.0
    if metric.endswith("_max") and metric.startswith(("bleu", "rouge")):
        return 0.0, 100.0
    spec = TASKS.get(task) if task in TASKS else None
    if spec is not None and spec.kind == "judged" and metric in {"accuracy", "relevancy"}:
        return 0.0, MAX_SCORE
    method = str(entry.get("ci_method", {}).get(metric, ""))
    shares = {"accuracy", "acc", "precision", "recall", "f1", "yes_ratio", "correct"}
    if method.startswith("wilson") or metric in shares or metric.endswith("_acc"):
        return 0.0, 1.0
    return None


def metric_config(task: str, metric: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    """Direction, unit, range and (GAVIE) the judge of one metric."""
    bounds = metric_range(task, metric, entry)
    config: dict[str, Any] = {
        "evaluation_description": _description(task),
        "metric_id": f"sbt_bench.{task}.{metric}",
        "metric_name": metric,
        "lower_is_better": metric in LOWER_IS_BETTER,
        "score_type": "continuous",
        "min_score": bounds[0] if bounds else "-Infinity",
        "max_score": bounds[1] if bounds else "Infinity",
        "metric_unit": _unit(metric, bounds),
        "additional_details": {},
    }
    if metric in NO_DIRECTION:
        config["additional_details"]["direction"] = "none: 0.5 is balanced"
    if judge := entry.get("judge"):
        config["llm_scoring"] = {
            "judges": [
                {
                    "model_info": {
                        "name": str(judge.get("model")),
                        "id": str(judge.get("model")),
                        "additional_details": {
                            "deployment_type": "unknown",
                            "model_availability": "unknown",
                        },
                    },
                    "temperature": 0.0,
                }
            ],
            "input_prompt": GAVIE_HEADER + GAVIE_CRITERIA,
            "additional_details": {"n_judged": str(judge.get("n_judged", ""))},
        }
    return config


def score_details(metric: str, value: float, entry: Mapping[str, Any]) -> dict[str, Any]:
    """The score with its uncertainty as recorded (an absent error bar: the reason)."""
    details: dict[str, Any] = {"score": value, "details": {}}
    stderr = entry.get("stderr", {}).get(metric)
    interval = entry.get("ci95", {}).get(metric)
    method = entry.get("stderr_method", {}).get(metric, "clt")
    uncertainty: dict[str, Any] = {"num_samples": int(entry.get("n_samples", 0))}
    if _finite(stderr):
        uncertainty["standard_error"] = {"value": float(stderr), "method": str(method)}
    if interval is not None and all(_finite(x) for x in interval):
        uncertainty["confidence_interval"] = {
            "lower": float(interval[0]),
            "upper": float(interval[1]),
            "confidence_level": 0.95,
            "method": str(entry.get("ci_method", {}).get(metric, "normal")),
        }
    if method == "bootstrap":
        uncertainty["num_bootstrap_samples"] = DEFAULT_RESAMPLES
    details["uncertainty"] = uncertainty
    notes = entry.get("notes", {})
    if why := notes.get(f"stderr:{metric}") or notes.get("stderr"):
        details["details"]["no_error_bar"] = str(why)
    if "n_clusters" in entry:
        details["details"]["n_clusters"] = str(entry["n_clusters"])
    return details


def source_data(task: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    """The items' source: a hub dataset (repo, split, revision) or a local file."""
    source = str(entry.get("data_source", ""))
    revision = entry.get("data_revision") or {}
    extra = {"data_source": source, "n_available": str(entry.get("n_available", ""))}
    extra |= {f"revision_{k}": str(v) for k, v in revision.items() if v is not None}
    spec = TASKS.get(task) if task in TASKS else None
    hub = spec.dataset.hub if spec is not None else None
    if hub and not source.startswith("/"):
        return {
            "dataset_name": task,
            "source_type": "hf_dataset",
            "hf_repo": str(hub),
            "hf_split": str(spec.dataset.split) if spec is not None else "",
            "samples_number": int(entry.get("n_samples", 0)),
            "additional_details": extra,
        }
    return {"dataset_name": task, "source_type": "other", "additional_details": extra}


def task_generation_config(task: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    """The prompt template, greedy decoding and the recorded prompt settings."""
    spec = TASKS.get(task) if task in TASKS else None
    args: dict[str, Any] = {"temperature": 0.0, "reasoning": False}
    if spec is not None:
        args["prompt_template"] = spec.prompt
        if spec.generation is not None:
            args["max_tokens"] = int(spec.generation.max_new_tokens)
    prompt = entry.get("prompt", {})
    details = {f"prompt.{k}": v if isinstance(v, str) else json.dumps(v) for k, v in prompt.items()}
    details |= {"protocol": str(entry.get("protocol", "")), "task_hash": str(entry.get("hash"))}
    return {"generation_args": args, "additional_details": details}


def _unit(metric: str, bounds: tuple[float, float] | None) -> str:
    if bounds == (0.0, 1.0):
        return "proportion"
    if metric in _MME_RANGES:
        return "points"
    return "score"


def _description(task: str) -> str:
    return TASKS.get(task).description if task in TASKS else task


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)
