"""Results artifacts: `results.json` (versioned, merged across runs) and `samples_<task>.jsonl`."""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import math
import platform
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sbt_bench._version import __version__
from sbt_bench.core.errors import SbtError
from sbt_bench.core.files import write_atomic
from sbt_bench.core.protocols import summarize_protocols
from sbt_bench.core.types import HubRevision, ItemResult, Request, Response, Sample
from sbt_bench.metrics.intervals import Estimate

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class ItemFailure:
    """An item left unscored because a request for it failed for good."""

    sample_id: str
    error: str


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
            failures.append(ItemFailure(sample.id, error))
    return items, failures


@dataclass(frozen=True)
class TaskResult:
    """Aggregated scores of one task for one model."""

    task: str
    version: str
    spec_hash: str
    n_samples: int
    n_available: int
    limit: int | float | None
    metrics: Mapping[str, float]
    stderr: Mapping[str, float]
    data_source: str
    n_requests: int
    failures: tuple[ItemFailure, ...] = ()
    breakdown: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    notes: Mapping[str, str] = field(default_factory=dict)
    parser: str | None = None
    missing_images: tuple[str, ...] = ()
    protocol_counts: Mapping[str, int] = field(default_factory=dict)
    shuffle_seed: int | None = None
    estimates: Mapping[str, Estimate] = field(default_factory=dict)
    """Error bars per metric (`sbt_bench.tasks.error_bars`); `notes` say why one is absent."""
    prompt: Mapping[str, Any] = field(default_factory=dict)
    data_revision: HubRevision | None = None

    def to_json(self) -> dict[str, Any]:
        """The task's entry in results.json."""
        return (
            {
                "version": self.version,
                "hash": self.spec_hash,
                "n_samples": self.n_samples,
                "n_available": self.n_available,
                "limit": self.limit,
                "metrics": dict(self.metrics),
                "stderr": self._stderr(),
                "ci95": {m: [e.ci_low, e.ci_high] for m, e in self.estimates.items()},
                "stderr_method": {m: e.method for m, e in self.estimates.items()},
                "data_source": self.data_source,
                "n_requests": self.n_requests,
                "n_failed": len(self.failures),
                "failed_items": [asdict(f) for f in self.failures[:100]],
            }
            | self._extras()
            | self._protocol_json()
        )

    def _stderr(self) -> dict[str, float | None]:
        """Every metric's SE; null (with a note) where it has none.

        An aggregator's own SE of an unclustered mean is kept as it is (the lm-eval
        parity tests compare it digit for digit); clustered and bootstrap ones replace it.
        """
        out: dict[str, float | None] = dict.fromkeys(self.metrics)
        out |= {m: e.stderr for m, e in self.estimates.items()}
        out |= {m: v for m, v in self.stderr.items() if self._method(m) == "clt"}
        return out

    def _method(self, metric: str) -> str:
        estimate = self.estimates.get(metric)
        return "clt" if estimate is None else estimate.method

    def _extras(self) -> dict[str, Any]:
        """Keys only some tasks have, left out elsewhere to keep text results short."""
        extras: dict[str, Any] = {}
        clusters = {e.n_clusters for e in self.estimates.values() if e.n_clusters is not None}
        if clusters:
            extras["n_clusters"] = max(clusters)
        if self.breakdown:
            extras["breakdown"] = {k: dict(v) for k, v in self.breakdown.items()}
        if self.notes:
            extras["notes"] = dict(self.notes)
        if self.parser:
            extras["parser"] = self.parser
        if self.prompt:
            extras["prompt"] = dict(self.prompt)
        if self.missing_images:
            extras["n_missing_images"] = len(self.missing_images)
            extras["missing_images"] = list(self.missing_images[:100])
        if self.data_revision is not None:  # hub sources only
            extras["data_revision"] = asdict(self.data_revision)
        return extras

    def _protocol_json(self) -> dict[str, Any]:
        """Which protocol produced the numbers (and the letter shuffle seed, if letters)."""
        if not self.protocol_counts:
            return {}
        entry: dict[str, Any] = {
            "protocol": summarize_protocols(self.protocol_counts),
            "protocol_counts": dict(self.protocol_counts),
        }
        if any(name.startswith("letters") for name in self.protocol_counts):
            entry["shuffle_seed"] = self.shuffle_seed
        return entry


def render_samples(items: Iterable[ItemResult]) -> str:
    """One JSON line per item: the prompt, choices or generation, prediction and scores."""
    lines = []
    for item in items:
        record: dict[str, Any] = {
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
    except (OSError, json.JSONDecodeError) as err:
        raise SbtError(f"{path}: not a readable samples file ({err})") from None
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


def read_results(path: Path) -> dict[str, Any]:
    """Load a results.json, with a one-line error for anything that is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise SbtError(f"{path}: not a readable results.json ({err})") from None
    if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION:
        raise SbtError(f"{path}: not an sbt-bench results.json of schema {SCHEMA_VERSION}")
    _check_numbers(path, data)
    return data


def _check_numbers(path: Path, data: Mapping[str, Any]) -> None:
    """Every metric and stderr is a number or null: a table must never show a string."""
    for section in ("tasks", "groups"):
        entries = data.get(section, {})
        if not isinstance(entries, dict):
            raise SbtError(f"{path}: {section!r} is not a mapping; rerun to rewrite the file")
        for name, entry in entries.items():
            for field_name in ("metrics", "stderr"):
                values = entry.get(field_name, {}) if isinstance(entry, dict) else None
                if not isinstance(values, dict):
                    raise SbtError(
                        f"{path}: {section}.{name}.{field_name} is not a mapping; "
                        f"rerun {name} to rewrite it"
                    )
                for metric, value in values.items():
                    if value is not None and (
                        isinstance(value, bool) or not isinstance(value, (int, float))
                    ):
                        raise SbtError(
                            f"{path}: {section}.{name}.{field_name}.{metric} is {value!r}, "
                            f"not a number; rerun {name} to rewrite it"
                        )


def new_results(model: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """An empty results document for one model."""
    return {
        "schema_version": SCHEMA_VERSION,
        "model": dict(model),
        "config": dict(config),
        "versions": collect_versions(),
        "tasks": {},
        "groups": {},
        "created_at": _now(),
    }


def save_results(path: Path, results: dict[str, Any]) -> None:
    """Stamp and atomically write a results document (undefined numbers as null)."""
    results["updated_at"] = _now()
    text = json.dumps(nan_as_null(results), indent=2, ensure_ascii=False, allow_nan=False)
    write_atomic(path, text + "\n")


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
    for name in ("torch", "transformers", "peft"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    return versions


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
