"""The Python API: `evaluate` models on tasks and `load_results`, as typed, frozen values.

    >>> import sbt_bench
    >>> runs = sbt_bench.evaluate("smollm2", "truthfulqa_mc2", limit=10)  # doctest: +SKIP
    >>> runs[0].tasks["truthfulqa_mc2"].metrics["acc"]  # doctest: +SKIP
    0.4...

The values hold exactly what `results.json` holds (a run without `output_dir` works in a
temporary folder and keeps nothing on disk).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Unpack

from sbt_bench.evaluation.config import RunOptions, RunSettings, prepare_run
from sbt_bench.evaluation.runner import evaluate_model
from sbt_bench.results.logging_sinks import log_results
from sbt_bench.results.records import nan_as_null, read_results

_TASK_KEYS = ("version", "hash", "n_samples", "n_available", "limit", "metrics", "stderr")


@dataclass(frozen=True)
class TaskResults:
    """One task's entry of results.json; `extras` holds the keys only some tasks have."""

    name: str
    version: str
    hash: str
    n_samples: int
    n_available: int
    limit: int | float | None
    metrics: Mapping[str, float | None]
    stderr: Mapping[str, float | None]
    n_failed: int = 0
    prompt: Mapping[str, Any] = field(default_factory=dict)
    extras: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GroupResults:
    """A group's mean over its tasks."""

    name: str
    tasks: tuple[str, ...]
    metrics: Mapping[str, float | None]
    stderr: Mapping[str, float | None]


@dataclass(frozen=True)
class ModelResults:
    """One model's results.json; `document` is the file's JSON as it is."""

    model: Mapping[str, Any]
    config: Mapping[str, Any]
    versions: Mapping[str, str]
    tasks: Mapping[str, TaskResults]
    groups: Mapping[str, GroupResults]
    timing: Mapping[str, Any]
    document: Mapping[str, Any]
    path: Path | None = None


def evaluate(
    models: str | Sequence[str], tasks: str | Sequence[str], **options: Unpack[RunOptions]
) -> list[ModelResults]:
    """Evaluate each model on the tasks (and groups) as `sbt-bench run` does.

    Every `run` flag is a keyword here, with the flag's name in snake case (the settings
    are `sbt_bench.evaluation.config.RunSettings`, checked as the flags are: a bad value
    or an unknown keyword is one `SbtError` line naming the keyword).

    Args:
        models: model specs as `--models` takes them (alias, `hf:<dir>`, YAML path, ...).
        tasks: task and group names (a comma-separated string or a list).
        **options: limit (the first N items, or a fraction 0 < limit < 1), data_dir (None:
            `$SBT_DATA_DIR`, else the hub), output_dir (None: a temporary folder, removed
            afterwards, nothing cached between calls), include_path (a list of user task
            folders, seen by this call only), overwrite, device, dtype, batch_size (None:
            auto), max_batch_tokens, prefix_sharing, seed, parser, judge,
            skip_missing_images, corruptions (`fog,snow:1,3`), apply_chat_template,
            system_instruction, fewshot_as_multiturn, num_fewshot, gen_kwargs (`k=v,...`
            or a mapping), predict_only, log (wandb, tensorboard), offline (hub files from
            the local cache only).

    Returns:
        One ModelResults per model, in order.
    """
    settings = RunSettings.from_keywords(models=models, tasks=tasks, **options)
    with tempfile.TemporaryDirectory(prefix="sbt-bench-") as scratch:
        keep = settings.output_dir is not None
        out = settings.output_dir if settings.output_dir is not None else Path(scratch)
        prepared = prepare_run(settings, out)
        runs = []
        for spec in prepared.models:
            results = evaluate_model(spec, prepared.task_names, prepared.groups, prepared.config)
            log_results(prepared.sinks, results, out / spec.slug())
            runs.append(
                to_model_results(results, out / spec.slug() / "results.json" if keep else None)
            )
        return runs


def load_results(path: str | Path) -> ModelResults:
    """A results.json (or the model folder holding one) as typed values."""
    file = Path(path)
    if file.is_dir():
        file /= "results.json"
    return to_model_results(read_results(file), file)


def to_model_results(document: Mapping[str, Any], path: Path | None) -> ModelResults:
    """Typed view of a results document (undefined numbers are None, as in the file)."""
    doc = json.loads(json.dumps(nan_as_null(dict(document))))
    tasks = {name: _task(name, entry) for name, entry in doc.get("tasks", {}).items()}
    groups = {
        name: GroupResults(name, tuple(g["tasks"]), g["metrics"], g["stderr"])
        for name, g in doc.get("groups", {}).items()
    }
    return ModelResults(
        model=doc["model"],
        config=doc.get("config", {}),
        versions=doc.get("versions", {}),
        tasks=tasks,
        groups=groups,
        timing=doc.get("timing", {}),
        document=doc,
        path=path,
    )


def _task(name: str, entry: Mapping[str, Any]) -> TaskResults:
    known = {*_TASK_KEYS, "n_failed", "prompt"}
    return TaskResults(
        name=name,
        version=entry["version"],
        hash=entry["hash"],
        n_samples=entry["n_samples"],
        n_available=entry["n_available"],
        limit=entry["limit"],
        metrics=entry["metrics"],
        stderr=entry["stderr"],
        n_failed=entry.get("n_failed", 0),
        prompt=entry.get("prompt", {}),
        extras={k: v for k, v in entry.items() if k not in known},
    )
