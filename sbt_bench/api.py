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
from collections.abc import Sequence
from pathlib import Path
from typing import Unpack

from sbt_bench.evaluation.config import RunOptions, RunSettings, prepare_run
from sbt_bench.evaluation.runner import evaluate_model
from sbt_bench.results.folder import read_folder
from sbt_bench.results.logging_sinks import log_results
from sbt_bench.results.schema import GroupResult, RunResults, TaskResult

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
    models: str | Sequence[str], tasks: str | Sequence[str], **options: Unpack[RunOptions]
) -> list[RunResults]:
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
        One RunResults per model, in order (`path` None without `output_dir`).
    """
    settings = RunSettings.from_keywords(models=models, tasks=tasks, **options)
    with tempfile.TemporaryDirectory(prefix="sbt-bench-") as scratch:
        out = settings.output_dir if settings.output_dir is not None else Path(scratch)
        prepared = prepare_run(settings, out)
        runs = []
        for spec in prepared.models:
            results = evaluate_model(spec, prepared.task_names, prepared.groups, prepared.config)
            log_results(prepared.sinks, results, out / spec.slug())
            runs.append(results)
    if settings.output_dir is None:  # the scratch folder is gone: the values say so
        return [run.model_copy(update={"path": None}) for run in runs]
    return runs


def load_results(path: str | Path) -> RunResults:
    """A results.json (or the model folder holding one) as typed values."""
    file = Path(path)
    if file.is_dir():
        file /= "results.json"
    return read_folder(file)
