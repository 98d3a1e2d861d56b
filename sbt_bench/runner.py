"""Evaluate models on tasks.

Build requests, answer them from the cache or the backend, score, aggregate, and write
results after every task.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from sbt_bench.backends import Backend, BackendOptions, ModelSpec, build_backend, fingerprint
from sbt_bench.cache import ResponseCache
from sbt_bench.metrics.stats import mean, stderr_of_mean, stderr_of_mean_of_means
from sbt_bench.results import (
    TaskResult,
    new_results,
    read_results,
    save_results,
    update_results,
    write_samples,
)
from sbt_bench.tasks import TASKS, GroupSpec, ItemResult, Task, build_task
from sbt_bench.tasks.source import describe_source, load_records
from sbt_bench.types import Request, Response

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunConfig:
    """Settings of one `sbt-bench run`."""

    output_dir: Path
    options: BackendOptions
    limit: int | None = None
    data_dir: Path | None = None
    seed: int = 0


class LazyBackend:
    """Loads the model on first use, so a fully cached rerun never loads it at all."""

    def __init__(self, factory: Callable[[], Backend]) -> None:
        self._factory = factory
        self._backend: Backend | None = None

    def get(self) -> Backend:
        """The backend, loading it now if needed."""
        if self._backend is None:
            self._backend = self._factory()
        return self._backend


def evaluate_model(
    spec: ModelSpec, task_names: Sequence[str], groups: Sequence[GroupSpec], cfg: RunConfig
) -> dict[str, Any]:
    """Run every task on one model; returns the results document (also written to disk)."""
    seed_everything(cfg.seed)
    options = BackendOptions(
        device=cfg.options.device,
        dtype=spec.dtype or cfg.options.dtype,
        batch_size=spec.batch_size or cfg.options.batch_size,
    )
    model_id = fingerprint(spec, options)
    folder = cfg.output_dir / spec.slug()
    results_path = folder / "results.json"
    results = _load_or_start(results_path, spec, options, model_id, cfg)
    backend = LazyBackend(lambda: build_backend(spec, options))
    with ResponseCache(folder / "cache.sqlite", model_id) as cache:
        for name in task_names:
            task = build_task(TASKS.get(name))
            outcome = evaluate_task(task, backend, cache, cfg)
            write_samples(folder / f"samples_{name}.jsonl", outcome.items)
            update_results(results_path, results, outcome.result)
    results["groups"] = aggregate_groups(results["tasks"], groups)
    save_results(results_path, results)
    return results


@dataclass(frozen=True)
class TaskOutcome:
    """A task's aggregated result and its scored items."""

    result: TaskResult
    items: list[ItemResult]


def evaluate_task(
    task: Task, backend: LazyBackend, cache: ResponseCache, cfg: RunConfig
) -> TaskOutcome:
    """Load the first `limit` items, answer their requests and score them."""
    start = time.perf_counter()
    spec = task.spec
    records = load_records(spec.task, spec.dataset, cfg.data_dir)
    chosen = records if cfg.limit is None else records[: cfg.limit]
    samples = [task.build_sample(i, r) for i, r in enumerate(chosen)]
    per_sample = [task.requests(s) for s in samples]
    flat = [r for requests in per_sample for r in requests]
    responses, n_cached = fetch_responses(flat, backend, cache, spec.task)
    items, offset = [], 0
    for sample, requests in zip(samples, per_sample, strict=True):
        items.append(task.score(sample, responses[offset : offset + len(requests)]))
        offset += len(requests)
    metrics, stderr = {}, {}
    for name in task.metric_names():
        values = [item.scores[name] for item in items]
        metrics[name], stderr[name] = mean(values), stderr_of_mean(values)
    result = TaskResult(
        task=spec.task,
        version=spec.version,
        spec_hash=spec.spec_hash(),
        n_samples=len(samples),
        n_available=len(records),
        limit=cfg.limit,
        metrics=metrics,
        stderr=stderr,
        data_source=describe_source(spec.dataset, cfg.data_dir),
        seconds=time.perf_counter() - start,
        n_requests=len(flat),
        n_cached=n_cached,
    )
    log.info("%s: %d items, %d requests (%d cached)", spec.task, len(samples), len(flat), n_cached)
    return TaskOutcome(result, items)


def fetch_responses(
    requests: Sequence[Request], backend: LazyBackend, cache: ResponseCache, label: str
) -> tuple[list[Response], int]:
    """Responses in request order: cached ones read back, the rest computed once each.

    Returns the responses and how many distinct requests were already cached.
    """
    keys = [cache.key(r) for r in requests]
    known = cache.get_many(keys)
    n_cached = len(known)
    missing: dict[str, Request] = {}
    for key, request in zip(keys, requests, strict=True):
        if key not in known and key not in missing:
            missing[key] = request
    for kind in ("loglikelihood", "generate"):
        todo = [(k, r) for k, r in missing.items() if r.kind == kind]
        if not todo:
            continue
        model = backend.get()
        run = model.loglikelihood if kind == "loglikelihood" else model.generate
        with tqdm(total=len(todo), desc=f"{label} ({kind})", unit="req", leave=False) as bar:
            for index, response in run([r for _, r in todo]):
                cache.put(todo[index][0], response)
                known[todo[index][0]] = response
                bar.update()
    return [known[k] for k in keys], n_cached


def aggregate_groups(tasks: dict[str, Any], groups: Sequence[GroupSpec]) -> dict[str, Any]:
    """Group means over subtasks present in the results (incomplete groups are skipped)."""
    out: dict[str, Any] = {}
    for group in groups:
        if group.mean_of is None or not all(t in tasks for t in group.tasks):
            continue
        metric = group.mean_of
        values = [tasks[t]["metrics"][metric] for t in group.tasks]
        errors = [tasks[t]["stderr"][metric] for t in group.tasks]
        out[group.group] = {
            "tasks": list(group.tasks),
            "metrics": {metric: mean(values)},
            "stderr": {metric: stderr_of_mean_of_means(errors)},
        }
    return out


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (greedy decoding needs none, but user hooks might)."""
    random.seed(seed)
    try:
        import numpy as np  # noqa: PLC0415
        import torch  # noqa: PLC0415
    except ImportError:
        return
    np.random.seed(seed)  # noqa: NPY002 - legacy global seeding is what downstream code reads
    torch.manual_seed(seed)


def _load_or_start(
    path: Path, spec: ModelSpec, options: BackendOptions, model_id: str, cfg: RunConfig
) -> dict[str, Any]:
    model = asdict(spec) | {
        "fingerprint": model_id,
        "dtype": options.dtype,
        "device": options.device,
        "batch_size": options.batch_size,
    }
    config = {"limit": cfg.limit, "seed": cfg.seed, "data_dir": str(cfg.data_dir or "hub")}
    if path.exists():
        previous = read_results(path)
        if previous.get("model", {}).get("fingerprint") == model_id:
            previous["config"] = config
            return previous
        log.warning("%s holds results of a different model or dtype; starting it afresh", path)
    return new_results(model, config)
