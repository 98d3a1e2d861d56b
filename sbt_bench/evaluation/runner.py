"""Evaluate models on tasks.

Build every task's requests, answer them from the response cache or the backend (each
response is committed as it arrives), then score, aggregate and write the results.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from sbt_bench.backends import (
    Backend,
    BackendOptions,
    ModelSpec,
    build_backend,
    fingerprint,
    parse_model_spec,
)
from sbt_bench.core.errors import SbtError
from sbt_bench.core.prompt_settings import PromptSettings
from sbt_bench.core.types import HubRevision, Request, Response, Sample
from sbt_bench.evaluation.cache import ResponseCache
from sbt_bench.evaluation.fetch import compute_missing
from sbt_bench.evaluation.judge import DEFAULT_JUDGE, Judge, judge_responses, needs_judge
from sbt_bench.evaluation.preflight import check_image_input
from sbt_bench.evaluation.prompting import Prompter, build_prompter
from sbt_bench.evaluation.sharding import ProcessGroup
from sbt_bench.evaluation.task_results import (
    FinishedTask,
    ResultSettings,
    ServedBy,
    finish_task,
)
from sbt_bench.media.images import parse_image_ref
from sbt_bench.results.folder import commit_results, start_results
from sbt_bench.results.group_means import aggregate_groups, known_groups
from sbt_bench.results.schema import (
    CacheHealth,
    JudgeRecord,
    ModelIdentity,
    RecordedConfig,
    RunResults,
    Timing,
)
from sbt_bench.results.usage import price_for
from sbt_bench.tasks import GroupSpec, Task, TaskCatalog, build_task, bundled_catalog
from sbt_bench.tasks.base import Parser
from sbt_bench.tasks.readers import Record
from sbt_bench.tasks.source import read_task_data
from sbt_bench.tasks.spec import CorruptionSpec, TaskSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunConfig:
    """Settings of one `sbt-bench run`."""

    output_dir: Path
    options: BackendOptions
    limit: int | float | None = None
    """N items of each task, or a fraction (0 < limit < 1) of each, first in file order."""
    data_dir: Path | None = None
    seed: int = 0
    group: ProcessGroup = field(default_factory=ProcessGroup)
    parser: Parser = "default"
    skip_missing_images: bool = False
    judge: str | None = None
    corruption: CorruptionSpec | None = None
    """Overrides corrupted-image tasks' corruptions and severities (`--corruptions`)."""
    overwrite: bool = False
    """Replace results of another model identity under the same name (`--overwrite`)."""
    prompt: PromptSettings = field(default_factory=PromptSettings)
    """Prompt settings from the flags; a model YAML's fill what the flags leave unset."""
    predict_only: bool = False
    """Write answers (samples files) only; `sbt-bench score` scores them later."""
    catalog: TaskCatalog = field(default_factory=bundled_catalog)
    """The tasks this run can name: the bundled ones and the run's own user folders."""
    no_wait: bool = False
    """Refuse at once, naming the holder, when another process holds the response cache."""


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

    def tokens_processed(self) -> int:
        """Tokens the model has run through so far (0 if it was never loaded)."""
        return 0 if self._backend is None else self._backend.tokens_processed


def evaluate_model(
    spec: ModelSpec, task_names: Sequence[str], groups: Sequence[GroupSpec], cfg: RunConfig
) -> RunResults:
    """Run every task on one model; returns the results document (also written to disk).

    All tasks' items are loaded first (so a bad data file stops the run before any model
    work), then their requests go to the backend together: identical requests of different
    tasks are computed once and a shared prompt prefix is encoded once per run.
    """
    check_image_input(spec, [task_spec(name, cfg) for name in task_names])
    seed_everything(cfg.seed)
    options = replace(
        cfg.options,
        dtype=spec.dtype or cfg.options.dtype,
        batch_size=spec.batch_size or cfg.options.batch_size,
    )
    model_id = fingerprint(spec, options)
    folder = cfg.output_dir / spec.slug()
    protocol = spec.choice_protocol()
    tasks = [
        build_task(
            task_spec(name, cfg),
            cfg.parser,
            mc_protocol=protocol,
            seed=cfg.seed,
            hooks=cfg.catalog.hooks,
        )
        for name in task_names
    ]
    specs = [task.spec for task in tasks]
    prompter = build_prompter(spec, cfg.prompt, specs, cfg.options.offline, cfg.catalog.hooks)
    plans = [plan_task(task, cfg, prompter=prompter) for task in tasks]
    # Only now, with every argument and data file checked, is the folder touched.
    results = start_results(
        folder, _model_record(spec, options, model_id), _config_record(cfg), overwrite=cfg.overwrite
    )
    backend = LazyBackend(lambda: build_backend(spec, options))
    start = time.perf_counter()
    with ResponseCache(folder / "cache.sqlite", model_id, wait=not cfg.no_wait) as cache:
        flat = [r for plan in plans for requests in plan.requests for r in requests]
        responses, n_cached = fetch_responses(flat, backend, cache, spec.name, cfg.group)
    tokens = cfg.group.total(backend.tokens_processed())
    if not cfg.group.is_main:
        return results
    judged: dict[str, JudgeRecord] = {}
    if not cfg.predict_only and needs_judge(plans):  # LLM-judged tasks (GAVIE) after the model
        with open_judge(cfg.judge or DEFAULT_JUDGE, folder, cfg.options.offline) as judge:
            responses, judged = judge_responses(plans, responses, judge)
    offset, commits = 0, {}
    for plan in plans:
        served = ServedBy(spec, judged.get(plan.task.spec.task))
        finished = finish_task(
            plan,
            responses[offset:],
            result_settings(cfg),
            scoring=not cfg.predict_only,
            served=served,
        )
        offset += sum(len(requests) for requests in plan.requests)
        if finished.result.n_failed:
            log.warning(
                "%s: %d items failed and are not scored (first: %s)",
                plan.task.spec.task,
                finished.result.n_failed,
                finished.result.failed_items[0].error,
            )
        commits[plan.task.spec.task] = finished.to_commit(plan.task.spec.task)
    timing = Timing(
        seconds=round(time.perf_counter() - start, 3),
        requests=len(flat),
        cached=n_cached,
        tokens_processed=tokens,
        processes=cfg.group.world_size,
        cache=CacheHealth.model_validate(cache.health.to_json()),
    )
    return commit_results(
        folder,
        results.model_copy(update={"timing": timing}),
        commits,
        lambda tasks: aggregate_groups(tasks, known_groups(cfg.catalog.groups, groups)),
        overwrite=cfg.overwrite,
    )


@dataclass(frozen=True)
class TaskPlan:
    """A task's chosen samples and the requests of each, before any model work."""

    task: Task
    samples: list[Sample]
    requests: list[list[Request]]
    n_available: int
    data_source: str
    missing_images: tuple[str, ...] = ()
    records: Sequence[Record] = ()
    data_revision: HubRevision | None = None
    """The chosen records the samples were built from (answer files are matched to them)."""
    prompt: Mapping[str, Any] = field(default_factory=dict)
    """The prompt settings applied to the task (`Prompter.record`); empty: the defaults."""


def task_spec(name: str, cfg: RunConfig) -> TaskSpec:
    """The registered task, with the run's corruption choice where the task corrupts images.

    The changed spec has its own hash, so results say which variants produced them.
    """
    spec = cfg.catalog.tasks.get(name)
    if spec.corruption is None or cfg.corruption is None:
        return spec
    return replace(spec, corruption=cfg.corruption)


def plan_task(
    task: Task, cfg: RunConfig, *, check_images: bool = True, prompter: Prompter | None = None
) -> TaskPlan:
    """Load the first `limit` items of a task and build their requests under `prompter`.

    Every image is checked before any model work: a missing one stops the run with its
    path, or with `skip_missing_images` its items are left out and counted. Rescoring
    recorded answers needs no images (`check_images=False`).
    """
    spec = task.spec
    data = read_task_data(
        spec.task, spec.dataset, cfg.data_dir, offline=cfg.options.offline, hooks=cfg.catalog.hooks
    )
    records = data.records
    if not records:
        raise SbtError(
            f"{spec.task}: {data.source} holds no items; "
            "a task with nothing to score has no numbers (is the file cut short?)"
        )
    chosen = records[: count_items(cfg.limit, len(records))]
    samples = [s for i, r in enumerate(chosen) for s in task.build_samples(i, r, cfg.data_dir)]
    prompter = prompter or Prompter()
    samples = prompter.prepare(task, samples, cfg.data_dir)
    missing = find_missing_images(samples) if check_images else []
    if missing and not cfg.skip_missing_images:
        first = parse_image_ref(missing[0]).path
        raise SbtError(
            f"{spec.task}: {len(missing)} image file(s) missing, first {first.name} "
            f"(looked in {first.parent}); lay out --data-dir as the README says, "
            "or pass --skip-missing-images to leave those items out (they are counted)"
        )
    if missing:
        gone = set(missing)
        samples = [
            s for s in samples if not any(str(parse_image_ref(r).path) in gone for r in s.images)
        ]
        if not samples:
            first = parse_image_ref(missing[0]).path
            raise SbtError(
                f"{spec.task}: all {len(gone)} image files are missing (first {first.name}, "
                f"looked in {first.parent}), so no item is left to score; lay out --data-dir "
                "as the README says"
            )
        log.warning("%s: %d images missing, their items are left out", spec.task, len(gone))
    return TaskPlan(
        task=task,
        samples=samples,
        requests=[prompter.adjust(spec, task.requests(s)) for s in samples],
        n_available=len(records),
        data_source=data.source,
        missing_images=tuple(missing),
        records=chosen,
        prompt=prompter.record(spec),
        data_revision=data.revision,
    )


def count_items(limit: float | None, n_available: int) -> int:
    """Items a `--limit` keeps: N, or a fraction rounded up (lm-eval's `get_sample_size`).

    Example:
        >>> count_items(0.1, 1005), count_items(10, 5), count_items(None, 7)
        (101, 5, 7)
    """
    if limit is None:
        return n_available
    if limit < 1:
        return min(n_available, math.ceil(n_available * limit))
    return min(n_available, int(limit))


def find_missing_images(samples: Sequence[Sample]) -> list[str]:
    """Source image files that do not exist, each once, in item order.

    A corrupted variant's source counts once, however many variants it has.
    """
    paths = dict.fromkeys(str(parse_image_ref(ref).path) for s in samples for ref in s.images)
    return [path for path in paths if not Path(path).is_file()]


def score_task(plan: TaskPlan, responses: Sequence[Response], cfg: RunConfig) -> FinishedTask:
    """Score each sample from its responses (in request order) and aggregate."""
    return finish_task(plan, responses, result_settings(cfg))


def result_settings(cfg: RunConfig) -> ResultSettings:
    """The settings a task's entry records."""
    return ResultSettings(limit=cfg.limit, seed=cfg.seed, parser=cfg.parser)


def fetch_responses(
    requests: Sequence[Request],
    backend: LazyBackend,
    cache: ResponseCache,
    label: str,
    group: ProcessGroup,
) -> tuple[list[Response], int]:
    """Responses in request order: cached ones read back, the rest computed once each.

    Under a launcher every process computes its share of what rank 0 found missing, in
    whole planned groups (`sbt_bench.evaluation.fetch`); only rank 0 gets the responses back
    (other ranks get an empty list). Returns the responses and how many distinct requests
    were already cached.
    """
    keys = [cache.key(r) for r in requests]
    known: dict[str, Response] = {}
    missing: list[str] | None = None
    if group.is_main:
        known = cache.get_many(keys)
        missing = [k for k in dict.fromkeys(keys) if k not in known]
    missing = group.broadcast(missing)
    assert missing is not None
    n_cached = len(set(keys)) - len(missing)
    by_key = dict(zip(keys, requests, strict=True))
    known |= compute_missing(by_key, missing, backend.get, cache, label=label, group=group)
    group.barrier()
    if not group.is_main:
        return [], n_cached
    # Only what other processes computed still has to be read back.
    known |= cache.get_many([k for k in missing if k not in known])
    lost = Response(error="failed on another process (see its log)")
    return [known.get(k, lost) for k in keys], n_cached


@contextmanager
def open_judge(judge: str, folder: Path, offline: bool | None = None) -> Iterator[Judge]:
    """The judge model, answering from the run's cache file under its own fingerprint."""
    spec, options = parse_model_spec(judge), BackendOptions(offline=offline)
    backend = LazyBackend(lambda: build_backend(spec, options))
    with ResponseCache(folder / "cache.sqlite", fingerprint(spec, options)) as cache:

        def fetch(requests: Sequence[Request]) -> list[Response]:
            return fetch_responses(requests, backend, cache, f"judge {spec.name}", ProcessGroup())[
                0
            ]

        yield Judge(spec.name, fetch, price_for(spec))


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


def _model_record(spec: ModelSpec, options: BackendOptions, model_id: str) -> ModelIdentity:
    # `prompt_format` lays out image prompts (llava); text prompts are recorded per task.
    drop = () if spec.backend == "llava" else ("prompt_format",)
    record = {k: v for k, v in asdict(spec).items() if k not in drop} | {
        "fingerprint": model_id,
        "dtype": options.dtype,
        "device": options.device,
        "batch_size": options.batch_size,
    }
    return ModelIdentity.model_validate(record)


def _config_record(cfg: RunConfig) -> RecordedConfig:
    return RecordedConfig(limit=cfg.limit, seed=cfg.seed, data_dir=str(cfg.data_dir or "hub"))
