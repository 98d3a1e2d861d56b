"""The Python API: `evaluate` models on tasks and `load_results`, as typed, frozen values.

    >>> import sbt_bench
    >>> runs = sbt_bench.evaluate("smollm2", "truthfulqa_mc2", limit=10)  # doctest: +SKIP
    >>> runs[0].tasks["truthfulqa_mc2"].metrics["acc"]  # doctest: +SKIP
    0.4...

The values are the results.json schema (`sbt_bench.results.schema.RunResults`) and hold
exactly what the file holds (a run without `output_dir` works in a temporary folder and
keeps nothing on disk).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sbt_bench.backends import BackendOptions, parse_model_spec
from sbt_bench.core.prompt_settings import GenKwargs, PromptSettings, parse_gen_kwargs
from sbt_bench.evaluation.runner import RunConfig, evaluate_model
from sbt_bench.results.records import read_results
from sbt_bench.results.schema import GroupResult, RunResults, TaskResult
from sbt_bench.tasks import GROUPS, TASKS, expand_task_names
from sbt_bench.tasks.base import Parser
from sbt_bench.tasks.source import resolve_data_dir
from sbt_bench.tasks.user_tasks import include_dirs, register_user_tasks

__all__ = [
    "GroupResult",
    "GroupResults",
    "ModelResults",
    "RunResults",
    "TaskResult",
    "TaskResults",
    "evaluate",
    "load_results",
]

# The names of sbt-bench 0.x, kept for code written against them.
ModelResults = RunResults
TaskResults = TaskResult
GroupResults = GroupResult


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
) -> list[RunResults]:
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
        One RunResults per model, in order (`path` None without `output_dir`).
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
        runs = [evaluate_model(spec, task_names, groups, cfg) for spec in specs]
    if output_dir is None:  # the scratch folder is gone: the values say so
        return [run.model_copy(update={"path": None}) for run in runs]
    return runs


def load_results(path: str | Path) -> RunResults:
    """A results.json (or the model folder holding one) as typed values."""
    file = Path(path)
    if file.is_dir():
        file /= "results.json"
    return read_results(file)


def _names(value: str | Sequence[str]) -> list[str]:
    if isinstance(value, str):
        return [n.strip() for n in value.split(",") if n.strip()]
    return list(value)


def _gen_kwargs(value: str | Mapping[str, Any] | None) -> GenKwargs:
    return parse_gen_kwargs(dict(value) if isinstance(value, Mapping) else value, "gen_kwargs")
