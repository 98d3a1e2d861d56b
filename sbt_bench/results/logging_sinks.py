"""Experiment logging of finished evaluations to Weights & Biases or TensorBoard (`--log`).

One logged run per model, made from what the run wrote (results.json and the samples
files), so a log never says anything the artifacts do not: every task's and group's
metrics (and their standard errors) as scalars, the results document without its task
entries as the run's config, and the scored items as a samples table (W&B) or a text
summary (TensorBoard). Both libraries are optional (the `log` extra).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from sbt_bench.core.errors import SbtError
from sbt_bench.core.files import read_json_lines
from sbt_bench.results.schema import RunResults

SINKS = ("wandb", "tensorboard")
# The module each sink needs (TensorBoard events are written through torch's writer).
_MODULES = {"wandb": "wandb", "tensorboard": "tensorboard"}
WANDB_PROJECT_DEFAULT = "sbt-bench"
SAMPLE_COLUMNS = ("task", "id", "context", "prediction", "scores")


def check_sinks(names: Sequence[str]) -> tuple[str, ...]:
    """Validate `--log` names before any model work; a missing library is one line."""
    for name in names:
        if name not in SINKS:
            raise SbtError(f"--log {name!r}: use one of {', '.join(SINKS)} (comma-separated)")
        if importlib.util.find_spec(_MODULES[name]) is None:
            raise SbtError(f'--log {name} needs the {name} package: pip install -e ".[log]"')
    return tuple(names)


def log_results(sinks: Sequence[str], results: RunResults, folder: Path) -> None:
    """Send one model's results (and the samples files beside them in `folder`) to each sink.

    The sinks take the file's JSON value: what they log is what results.json says.
    """
    document = results.document
    for sink in sinks:
        if sink == "wandb":
            log_to_wandb(document, folder)
        else:
            log_to_tensorboard(document, folder)


def scalar_metrics(results: Mapping[str, Any]) -> dict[str, float]:
    """`<task>/<metric>` and `<task>/<metric>_stderr` for every finite number, groups too.

    Example:
        >>> scalar_metrics({"tasks": {"t": {"metrics": {"acc": 0.5}, "stderr": {"acc": 0.1}}}})
        {'t/acc': 0.5, 't/acc_stderr': 0.1}
    """
    out: dict[str, float] = {}
    entries = {**results.get("tasks", {}), **results.get("groups", {})}
    for name, entry in entries.items():
        for key, suffix in (("metrics", ""), ("stderr", "_stderr")):
            for metric, value in entry.get(key, {}).items():
                number = _finite(value)
                if number is not None:
                    out[f"{name}/{metric}{suffix}"] = number
    return out


def run_config(results: Mapping[str, Any]) -> dict[str, Any]:
    """The results document without its per-task and per-group entries (model, seed, ...)."""
    config = {k: v for k, v in results.items() if k not in ("tasks", "groups")}
    config["tasks"] = {
        name: {k: v for k, v in entry.items() if k not in ("metrics", "stderr", "breakdown")}
        for name, entry in results.get("tasks", {}).items()
    }
    return config


def sample_rows(results: Mapping[str, Any], folder: Path) -> Iterator[tuple[str, ...]]:
    """One row per scored item of every task, read from `samples_<task>.jsonl`."""
    for task in results.get("tasks", {}):
        path = folder / f"samples_{task}.jsonl"
        if not path.is_file():
            continue
        for _, item in read_json_lines(path):
            yield (
                task,
                str(item.get("id", "")),
                str(item.get("context", "")),
                str(item.get("prediction", "")),
                json.dumps(item.get("scores", {}), sort_keys=True),
            )


def log_to_wandb(results: Mapping[str, Any], folder: Path) -> None:
    """One W&B run named after the model: config, metrics (as summary) and a samples table.

    The project is $WANDB_PROJECT (default `sbt-bench`); `WANDB_MODE=offline` keeps the
    run on disk under $WANDB_DIR for a later `wandb sync`.
    """
    import wandb  # noqa: PLC0415 - optional dependency (the `log` extra)

    run = wandb.init(
        project=os.environ.get("WANDB_PROJECT", WANDB_PROJECT_DEFAULT),
        name=str(results.get("model", {}).get("name", folder.name)),
        job_type="eval",
        config=run_config(results),
        reinit="create_new",
    )
    try:
        metrics = scalar_metrics(results)
        table = wandb.Table(columns=list(SAMPLE_COLUMNS), data=list(sample_rows(results, folder)))
        run.log({**metrics, "samples": table})
        run.summary.update(metrics)
    finally:
        run.finish()


def log_to_tensorboard(results: Mapping[str, Any], folder: Path) -> None:
    """Event files under `<model folder>/tensorboard`: one scalar per metric, a text summary."""
    from torch.utils.tensorboard import SummaryWriter  # noqa: PLC0415 - needs tensorboard

    writer = SummaryWriter(log_dir=str(folder / "tensorboard"))
    try:
        metrics = scalar_metrics(results)
        for tag, value in metrics.items():
            writer.add_scalar(tag, value, global_step=0)
        table = ["| metric | value |", "|---|---:|"] + [
            f"| {k} | {v:.6g} |" for k, v in metrics.items()
        ]
        writer.add_text("summary", "\n".join(table), global_step=0)
        config = json.dumps(run_config(results), indent=1, sort_keys=True, default=str)
        # Indented by four spaces: TensorBoard renders text as markdown, this as code.
        writer.add_text("config", "    " + config.replace("\n", "\n    "), global_step=0)
    finally:
        writer.close()


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None
