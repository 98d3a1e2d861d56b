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
from typing import Any

from sbt_bench.backends import BackendOptions, parse_model_spec
from sbt_bench.core.prompt_settings import GenKwargs, PromptSettings, parse_gen_kwargs
from sbt_bench.evaluation.runner import RunConfig, evaluate_model
from sbt_bench.results.records import nan_as_null, read_results
from sbt_bench.tasks import GROUPS, TASKS, expand_task_names
from sbt_bench.tasks.base import Parser
from sbt_bench.tasks.source import resolve_data_dir
from sbt_bench.tasks.user_tasks import include_dirs, register_user_tasks

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
    models: str | Sequence[str],
    tasks: str | Sequence[str],
    *,
    limit: float | None = None,
    data_dir: str | Path | None = None,
    output_dir: str | Path | None = None,
    include_path: Sequence[str | Path] = (),
    device: str = "cpu",
    dtype: str = "auto",
    batch_size: int | None = 8,
    seed: int = 0,
    parser: Parser = "default",
    apply_chat_template: bool | None = None,
    system_instruction: str | None = None,
    fewshot_as_multiturn: bool | None = None,
    num_fewshot: int | None = None,
    gen_kwargs: str | Mapping[str, Any] | None = None,
    predict_only: bool = False,
) -> list[ModelResults]:
    """Evaluate each model on the tasks (and groups) as `sbt-bench run` does.

    Args:
        models: model specs as `--models` takes them (alias, `hf:<dir>`, YAML path, ...).
        tasks: task and group names (a comma-separated string or a list).
        limit: the first N items of each task, or a fraction (0 < limit < 1).
        data_dir: local data folder; None reads `$SBT_DATA_DIR`, else the hub.
        output_dir: where results, samples and the response cache go; None: a temporary
            folder, removed afterwards (nothing is cached between calls).
        include_path: folders of user task YAMLs (as `--include-path`).
        device: `cpu`, `cuda` or `cuda:N`.
        dtype: `auto`, `float32`, `bfloat16` or `float16`.
        batch_size: sequences per forward pass; None for `auto`.
        seed: seeds Python, NumPy and torch, and the letter protocol's option order.
        parser: `official` reproduces each benchmark's own answer parser.
        apply_chat_template: render text prompts with the model's chat template.
        system_instruction: a system message before every text prompt.
        fewshot_as_multiturn: few-shot examples as chat turns (default with the template).
        num_fewshot: examples from each task's few-shot pool.
        gen_kwargs: `temperature`, `top_p`, `max_new_tokens`, `do_sample` overrides.
        predict_only: answers and samples files only, no metrics.

    Returns:
        One ModelResults per model, in order.
    """
    register_user_tasks(include_dirs([str(p) for p in include_path]), TASKS, GROUPS)
    task_names, groups = expand_task_names(_names(tasks))
    specs = [parse_model_spec(m) for m in _names(models)]
    settings = PromptSettings(
        apply_chat_template=apply_chat_template,
        system_instruction=system_instruction,
        fewshot_as_multiturn=fewshot_as_multiturn,
        num_fewshot=num_fewshot,
        gen_kwargs=_gen_kwargs(gen_kwargs),
    )
    with tempfile.TemporaryDirectory(prefix="sbt-bench-") as scratch:
        out = Path(output_dir) if output_dir is not None else Path(scratch)
        cfg = RunConfig(
            output_dir=out,
            options=BackendOptions(device=device, dtype=dtype, batch_size=batch_size),
            limit=limit,
            data_dir=resolve_data_dir(None if data_dir is None else str(data_dir)),
            seed=seed,
            parser=parser,
            prompt=settings,
            predict_only=predict_only,
        )
        keep = output_dir is not None
        return [
            to_model_results(
                evaluate_model(spec, task_names, groups, cfg),
                out / spec.slug() / "results.json" if keep else None,
            )
            for spec in specs
        ]


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


def _names(value: str | Sequence[str]) -> list[str]:
    if isinstance(value, str):
        return [n.strip() for n in value.split(",") if n.strip()]
    return list(value)


def _gen_kwargs(value: str | Mapping[str, Any] | None) -> GenKwargs:
    return parse_gen_kwargs(dict(value) if isinstance(value, Mapping) else value, "gen_kwargs")
