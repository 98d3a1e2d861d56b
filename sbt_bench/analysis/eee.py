"""Every Eval Ever (schema 0.3.0) records of result folders: `sbt-bench export --format eee`.

Per model and task group (TruthfulQA, ETHICS, POPE; a task in no group is its own),
one aggregate record `data/<group>/<developer>/<model>/<uuid>.json` with one
`evaluation_results` entry per task and metric, and its instance-level companion
`<uuid>_samples.jsonl` with one line per scored item of each task of the group. The
EEE datastore links one samples file to one aggregate (`detailed_evaluation_results`),
so a group's tasks share the file; each line names its task in `evaluation_name` and
the result it belongs to in `evaluation_result_id` (`<task>/<metric>`). With `--base`,
each result's `score_details.details` (the schema's additional details of a score)
holds the paired comparison with the base model: difference, its 95% CI and interval
method, Holm-adjusted p, test, MDE and items paired.

Both files are checked with the `every-eval-ever` package's own validator (the pydantic
models and the datastore's semantic checks) before the export reports success. File
names are UUID4-shaped hashes of the model, group and results, so exporting the same
results again writes the same bytes (what makes a hub upload idempotent).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sbt_bench._version import __version__
from sbt_bench.analysis.eee_fields import (
    metric_config,
    score_details,
    source_data,
    task_generation_config,
)
from sbt_bench.analysis.eee_instances import instance_lines
from sbt_bench.analysis.leaderboard import find_results
from sbt_bench.analysis.pairing import RunFolder, compare_runs, load_run
from sbt_bench.core.errors import SbtError
from sbt_bench.core.files import write_atomic
from sbt_bench.metrics.paired import PairedComparison
from sbt_bench.results.records import read_samples
from sbt_bench.tasks import GROUPS

EEE_SCHEMA_VERSION = "0.3.0"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class ExportedRecord:
    """One aggregate record and its instance-level file, as written and validated."""

    model: str
    group: str
    aggregate: Path
    samples: Path
    n_results: int
    n_instances: int


def export_eee(
    folders: Sequence[str], output: Path, *, base: str | None = None, overwrite: bool = False
) -> list[ExportedRecord]:
    """Write and validate the EEE records of every result folder; the records written.

    A record file that already holds something else (an export of other results under the
    same record id) is refused unless `overwrite`; the same export again rewrites nothing new.
    """
    validator = _validator()
    runs = [load_run(path.parent) for path in find_results(folders)]
    for run in runs:
        refuse_predict_only(run)
    comparisons = paired_against(runs, base)
    written = []
    for run in runs:
        for group, tasks in task_groups(run).items():
            record = _write_group(
                run, group, tasks, output, comparisons.get(run.model, {}), overwrite=overwrite
            )
            validator(output, record)
            written.append(record)
    return written


def refuse_predict_only(run: RunFolder) -> None:
    """A predict-only run has answers but no scores: nothing an EEE record can hold."""
    for task, entry in run.results.tasks.items():
        if entry.predict_only:
            raise SbtError(
                f"{run.path}: task {task!r} is predict-only (no scores); score it with "
                "`sbt-bench score` (or rerun without --predict-only) before exporting"
            )


def paired_against(
    runs: Sequence[RunFolder], base: str | None
) -> dict[str, dict[str, dict[str, PairedComparison]]]:
    """Per other model, task and metric, its paired comparison with `base` (none: empty)."""
    if base is None:
        return {}
    names = [r.model for r in runs]
    if base not in names:
        raise SbtError(f"--base {base!r} is not among the results; models: {names}")
    base_run = runs[names.index(base)]
    out: dict[str, dict[str, dict[str, PairedComparison]]] = {}
    for run in runs:
        if run.model == base:
            continue
        compared = compare_runs(base_run, run, strict=False)
        out[run.model] = {t.task: {r.metric: r for r in t.rows} for t in compared.tasks}
    return out


def task_groups(run: RunFolder) -> dict[str, list[str]]:
    """The run's tasks by group (a task of no group, or of a group not all run, alone)."""
    tasks = list(run.results.tasks)
    out: dict[str, list[str]] = {}
    for task in tasks:
        group = next(
            (
                g
                for g in GROUPS.names()
                if task in GROUPS.get(g).tasks and set(GROUPS.get(g).tasks) & set(tasks)
            ),
            task,
        )
        out.setdefault(group, []).append(task)
    return out


def model_identity(model: Mapping[str, Any]) -> tuple[str, str, str]:
    """(id, developer, folder name): a hub id keeps its owner; a local model is `local/`."""
    name = str(model.get("name") or model.get("path") or "model")
    ref = name.split(":", 1)[1] if ":" in name else name
    parts = [p for p in ref.replace("\\", "/").split("/") if p]
    if len(parts) == 2 and not Path(ref).is_absolute():  # noqa: PLR2004 - owner/name
        owner, model_name = (_safe(p) for p in parts)
    else:
        owner, model_name = "local", _safe(parts[-1] if parts else name)
    return f"{owner}/{model_name}", owner, model_name


def _write_group(
    run: RunFolder,
    group: str,
    tasks: Sequence[str],
    output: Path,
    comparisons: Mapping[str, Mapping[str, PairedComparison]],
    *,
    overwrite: bool,
) -> ExportedRecord:
    doc = run.results.document  # results.json as written: the record's keys and values
    model_id, developer, folder_name = model_identity(doc["model"])
    stamp = str(doc.get("updated_at") or doc.get("created_at") or "")
    record_id = _uuid4_like(model_id, group, stamp, *tasks)
    folder = f"data/{_safe(group)}/{developer}/{folder_name}"
    evaluation_id = f"{group}/{model_id}/{_epoch(stamp)}"
    lines = []
    results = []
    for task in tasks:
        entry = doc["tasks"][task]
        items = read_samples(run.path / f"samples_{task}.jsonl")
        results += _task_results(task, entry, comparisons.get(task, {}))
        lines += instance_lines(task, entry, items, evaluation_id, model_id)
    samples_text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    samples_path = f"{folder}/{record_id}_samples.jsonl"
    aggregate = {
        "schema_version": EEE_SCHEMA_VERSION,
        "evaluation_id": evaluation_id,
        "evaluation_timestamp": stamp,
        "retrieved_timestamp": _epoch(stamp),
        "source_metadata": {
            "source_name": "SBT-Bench",
            "source_type": "evaluation_run",
            "source_organization_name": "SBT-Bench",
            "evaluator_relationship": "third_party",
        },
        "model_info": _model_info(doc["model"], model_id, developer),
        "eval_library": {
            "name": "sbt-bench",
            "version": str(doc.get("versions", {}).get("sbt_bench", __version__)),
        },
        "evaluation_results": results,
        "detailed_evaluation_results": {
            "format": "jsonl",
            "file_path": samples_path,
            "hash_algorithm": "sha256",
            "checksum": hashlib.sha256(samples_text.encode()).hexdigest(),
            "total_rows": len(lines),
        },
    }
    aggregate_path = output / folder / f"{record_id}.json"
    aggregate_text = json.dumps(aggregate, indent=2, ensure_ascii=False) + "\n"
    for path, text in ((output / samples_path, samples_text), (aggregate_path, aggregate_text)):
        _refuse_other_record(path, text, overwrite=overwrite)
    write_atomic(output / samples_path, samples_text)
    write_atomic(aggregate_path, aggregate_text)
    return ExportedRecord(
        run.model, group, aggregate_path, output / samples_path, len(results), len(lines)
    )


def _task_results(
    task: str, entry: Mapping[str, Any], comparisons: Mapping[str, PairedComparison]
) -> list[dict[str, Any]]:
    """One `evaluation_results` entry per metric with a value."""
    out = []
    for metric, value in entry.get("metrics", {}).items():
        if value is None:
            continue
        result: dict[str, Any] = {
            "evaluation_result_id": f"{task}/{metric}",
            "evaluation_name": task,
            "source_data": source_data(task, entry),
            "metric_config": metric_config(task, metric, entry),
            "score_details": score_details(metric, float(value), entry),
            "generation_config": task_generation_config(task, entry),
        }
        if metric in comparisons:  # the score's own additional details (string pairs)
            result["score_details"]["details"] |= paired_details(comparisons[metric])
        out.append(result)
    return out


def paired_details(row: PairedComparison) -> dict[str, str]:
    """A paired comparison with the base, as the string pairs `additional_details` takes."""
    return {
        "paired_base_value": repr(row.base.value),
        "paired_difference": repr(row.difference),
        "paired_difference_ci95": json.dumps([row.ci_low, row.ci_high]),
        "paired_difference_interval": row.interval,
        "paired_p_holm": repr(row.p_holm),
        "paired_test": row.test,
        "paired_n": str(row.n_paired),
        "paired_mde": repr(row.mde) if row.mde_note is None else f"n/e: {row.mde_note}",
    }


def _model_info(model: Mapping[str, Any], model_id: str, developer: str) -> dict[str, Any]:
    backend = str(model.get("backend", ""))
    remote = backend == "openai"
    details = {
        "deployment_type": "externally_managed" if remote else "self_deployed",
        "model_availability": "closed_weights" if remote else "unknown",
    }
    details |= {
        k: str(v) for k, v in model.items() if isinstance(v, str | int | float) and k != "name"
    }
    return {
        "name": str(model.get("name", model_id)),
        "id": model_id,
        "developer": developer,
        "inference_platform": backend or "unknown",
        "additional_details": details,
    }


def _uuid4_like(*parts: str) -> str:
    """A UUID4-shaped id from a hash of `parts`: stable across exports of the same run."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()[:16]
    return str(uuid.UUID(bytes=digest, version=4))


def _epoch(stamp: str) -> str:
    try:
        return str(int(datetime.fromisoformat(stamp).timestamp()))
    except ValueError:
        return "0"


def _safe(name: str) -> str:
    return _UNSAFE.sub("_", name).strip("._") or "model"


def _validator() -> Any:
    """The every-eval-ever validator, or a one-line error saying how to install it."""
    try:
        from sbt_bench.analysis.eee_validate import validate_record  # noqa: PLC0415
    except ImportError:
        raise SbtError(
            "export --format eee needs the every-eval-ever package: pip install -e '.[export]' "
            "(on Python 3.11: pip install --no-deps --ignore-requires-python "
            "every-eval-ever==0.3.0)"
        ) from None
    return validate_record


def _refuse_other_record(path: Path, text: str, *, overwrite: bool) -> None:
    if overwrite or not path.is_file():
        return
    if path.read_bytes() != text.encode():
        raise SbtError(
            f"{path} holds another export under this record id; pass --overwrite to replace "
            "it, or give --output another folder"
        )
