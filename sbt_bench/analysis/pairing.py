"""`sbt-bench compare BASE OTHER...`: paired statistics of result folders, and flipped items.

A result folder is `<output-dir>/<model>/` with `results.json` and `samples_<task>.jsonl`.
Two runs of a task pair only when they scored the same thing: the same task definition
(hash), data, item set, `--limit`, protocol and parser; anything else is refused with the
folder and the field, since a difference between them would not measure the models.
Each task's metrics are compared on the items both runs scored
(`sbt_bench.tasks.error_bars.compare_items`); p-values are Holm-adjusted across every
metric of one BASE-vs-OTHER comparison. A difference significant after Holm is marked
better (`*`) or worse (`!`) than the base by the metric's declared direction; one without
a direction (yes_ratio) is not marked.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from sbt_bench.analysis.flips import (
    Flip,
    binary_scores,
    explain_no_flips,
    find_flips,
)
from sbt_bench.core.errors import SbtError
from sbt_bench.core.files import write_atomic
from sbt_bench.core.types import ItemResult
from sbt_bench.metrics.directions import HigherIsBetter, Verdict, judge_difference
from sbt_bench.metrics.intervals import DEFAULT_RESAMPLES
from sbt_bench.metrics.paired import PairedComparison, adjust_holm
from sbt_bench.results.folder import read_folder
from sbt_bench.results.records import nan_as_null, read_samples
from sbt_bench.results.schema import RunResults
from sbt_bench.tasks import TASKS, Task, build_task
from sbt_bench.tasks.breakdown_bars import compare_breakdowns
from sbt_bench.tasks.error_bars import compare_items, score_bounds

# results.json fields that must agree for two runs of a task to pair (TaskResult attributes,
# named in errors by their results.json key).
PAIRING_FIELDS = {
    "hash": "spec_hash",
    "version": "version",
    "data_source": "data_source",
    "limit": "limit",
    "n_available": "n_available",
    "protocol": "protocol",
    "parser": "parser",
}
ALPHA = 0.05
"""Holm-adjusted p below which a difference is called better or worse."""
MARKS = {"better": "*", "worse": "!", None: ""}


@dataclass(frozen=True)
class RunFolder:
    """One model's results folder."""

    path: Path
    model: str
    results: RunResults


@dataclass(frozen=True)
class TaskComparison:
    """One task of a comparison: its metrics' paired statistics and flipped items."""

    task: str
    rows: tuple[PairedComparison, ...]
    flips: tuple[Flip, ...] = ()
    refused: str | None = None
    """Why the task was not paired (only when refusals are not errors: `run --compare`)."""
    directions: Mapping[str, HigherIsBetter] = field(default_factory=dict)
    """Each metric's declared direction (which way is better)."""
    flips_note: str | None = None
    """Why `flips` is empty (None when it is not, or the task was refused)."""
    flip_scores: tuple[str, ...] = ()
    """The per-item 0/1 scores the flips were looked for on."""
    breakdown: tuple[tuple[str, tuple[PairedComparison, ...]], ...] = ()
    """Per breakdown part (MME subtask, OODCV situation), its paired comparisons;
    p-values unadjusted (exploratory: Holm covers the headline rows only)."""

    def verdict(self, row: PairedComparison) -> Verdict | None:
        """A row's difference as better or worse than the base (None: neither, or undirected)."""
        direction = self.directions.get(row.metric)
        return judge_difference(
            row.difference, higher_is_better=direction, significant=row.p_holm < ALPHA
        )


@dataclass(frozen=True)
class ModelComparison:
    """BASE against one OTHER over several tasks, p-values Holm-adjusted across all rows."""

    base: str
    other: str
    tasks: tuple[TaskComparison, ...]


def load_run(folder: Path) -> RunFolder:
    """The results of a model folder (or a results.json path), or a one-line error."""
    path = folder / "results.json" if folder.is_dir() else folder
    if not path.is_file():
        raise SbtError(f"{folder}: no results.json; give a folder that `sbt-bench run` wrote")
    results = read_folder(path)
    if not results.tasks:
        raise SbtError(f"{path}: field 'tasks' is empty; this run scored nothing")
    return RunFolder(path.parent, results.model.name, results)


def compare_runs(
    base: RunFolder,
    other: RunFolder,
    tasks: Sequence[str] | None = None,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    strict: bool = True,
) -> ModelComparison:
    """Every task (default: all of BASE's) of OTHER against BASE.

    With `strict`, an unpairable task is an SbtError naming the folder and field;
    without, it is kept with its reason in `refused` and no rows.
    """
    names = list(tasks) if tasks else list(base.results.tasks)
    compared = []
    for name in names:
        try:
            check_pairable(name, base, other)
        except SbtError as err:
            if strict:
                raise
            compared.append(TaskComparison(name, (), refused=str(err)))
            continue
        compared.append(_compare_task(name, base, other, resamples, seed))
    adjusted = iter(adjust_holm([row for t in compared for row in t.rows]))
    holm = tuple(replace(t, rows=tuple(next(adjusted) for _ in t.rows)) for t in compared)
    return ModelComparison(base.model, other.model, holm)


def check_pairable(task: str, base: RunFolder, other: RunFolder) -> None:
    """Raise an SbtError naming the folder and field if the task's runs cannot pair."""
    entries = []
    for run in (base, other):
        entry = run.results.tasks.get(task)
        if entry is None:
            raise SbtError(f"{run.path}: field 'tasks.{task}' is missing; run the task or drop it")
        entries.append(entry)
    for key, attribute in PAIRING_FIELDS.items():
        a, b = getattr(entries[0], attribute), getattr(entries[1], attribute)
        if a != b:
            raise SbtError(
                f"{other.path}: field 'tasks.{task}.{key}' is {b!r} but {a!r} in {base.path}; "
                "rerun both the same way to compare them"
            )
    failed = {f.sample_id for e in entries for f in e.failed_items}
    ids = [{i.sample.id for i in _items(run, task)} for run in (base, other)]
    unexplained = (ids[0] ^ ids[1]) - failed
    if unexplained:
        raise SbtError(
            f"{other.path}: field 'item set' of {task} differs from {base.path} "
            f"({len(unexplained)} items, e.g. {min(unexplained)!r}); rerun on the same items"
        )


def _items(run: RunFolder, task: str) -> list[ItemResult]:
    path = run.path / f"samples_{task}.jsonl"
    if not path.is_file():
        raise SbtError(f"{run.path}: no samples_{task}.jsonl; rerun the task to write it")
    return read_samples(path)


def _compare_task(
    name: str, base: RunFolder, other: RunFolder, resamples: int, seed: int
) -> TaskComparison:
    if name not in TASKS:
        raise SbtError(f"{base.path}: task {name!r} is not defined here; update sbt-bench")
    task = build_task(TASKS.get(name))
    base_items, other_items = _items(base, name), _items(other, name)
    names = task.metric_names()
    rows = compare_items(
        task.spec.aggregate,
        base_items,
        other_items,
        names,
        resamples=resamples,
        seed=seed,
        bounds=score_bounds(task.spec, names),
    )
    entry = base.results.tasks.get(name)
    recorded = entry.directions if entry is not None else {}  # the run's, user metrics too
    directions = {
        row.metric: recorded[row.metric] if row.metric in recorded else _direction(task, row.metric)
        for row in rows
    }
    flips = find_flips(name, base_items, other_items)
    parts = compare_breakdowns(task.spec.aggregate, base_items, other_items)
    return TaskComparison(
        name,
        tuple(rows),
        tuple(flips),
        directions=directions,
        flips_note=explain_no_flips(base_items, other_items, flips),
        flip_scores=tuple(binary_scores(base_items, other_items)),
        breakdown=tuple((part, tuple(compared)) for part, compared in parts.items()),
    )


def _direction(task: Task, metric: str) -> HigherIsBetter:
    """The metric's direction; None for a row the task does not declare (a corpus part)."""
    try:
        return task.higher_is_better(metric)
    except SbtError:
        return None


def write_flips(comparison: ModelComparison, folder: Path) -> list[Path]:
    """`<folder>/flips_<task>.jsonl` per task with flips; one JSON object per item."""
    paths = []
    for task in comparison.tasks:
        if not task.flips:
            continue
        lines = [
            json.dumps(
                asdict(f) | {"base_model": comparison.base, "other_model": comparison.other},
                ensure_ascii=False,
            )
            for f in task.flips
        ]
        path = folder / f"flips_{task.task}.jsonl"
        write_atomic(path, "\n".join(lines) + "\n", fix="give --flips-dir another folder")
        paths.append(path)
    return paths


COLUMNS = (
    "task", "metric", "base", "base_ci", "other", "other_ci", "difference", "difference_ci",
    "p_holm", "mde", "n_paired", "test", "interval", "mde_note",
)  # fmt: skip


def comparison_rows(comparison: ModelComparison) -> list[dict[str, Any]]:
    """One flat record per task and metric (the json format, and the table's source)."""
    rows: list[dict[str, Any]] = []
    for task in comparison.tasks:
        if task.refused:
            rows.append({"task": task.task, "refused": task.refused})
        if task.flips_note:
            rows.append({"task": task.task, "no_flips": task.flips_note})
        rows += [
            {
                "task": task.task,
                **_paired_values(r),
                "stderr": r.stderr,
                "p_value": r.p_value,
                "p_holm": r.p_holm,
                "mde": r.mde,
                "mde_note": r.mde_note,
                "n_paired": r.n_paired,
                "n_clusters": r.base.n_clusters,
                "test": r.test,
                "interval": r.interval,
                "higher_is_better": task.directions.get(r.metric),
                "verdict": task.verdict(r),
                "flips": _flip_counts(task, r.metric),
            }
            for r in task.rows
        ]
    return rows


def breakdown_rows(comparison: ModelComparison) -> list[dict[str, Any]]:
    """One flat record per task, breakdown part and metric (p unadjusted)."""
    return [
        {
            "task": task.task,
            "part": part,
            **_paired_values(r),
            "p_value": r.p_value,
            "n_paired": r.n_paired,
            "interval": r.interval,
        }
        for task in comparison.tasks
        for part, rows in task.breakdown
        for r in rows
    ]


def _paired_values(r: PairedComparison) -> dict[str, Any]:
    """A paired row's values and intervals, as every flat record of a comparison shows them."""
    return {
        "metric": r.metric,
        "base": r.base.value,
        "base_ci": [r.base.ci_low, r.base.ci_high],
        "other": r.other.value,
        "other_ci": [r.other.ci_low, r.other.ci_high],
        "difference": r.difference,
        "difference_ci": [r.ci_low, r.ci_high],
    }


def _flip_counts(task: TaskComparison, metric: str) -> dict[str, int]:
    """Flips of one metric; a corpus metric (F1, MME score) counts its task's first 0/1 score's."""
    key = metric if metric in task.flip_scores or not task.flip_scores else task.flip_scores[0]
    flips = [f for f in task.flips if f.metric == key]
    up = sum(f.direction == "wrong->right" for f in flips)
    return {"wrong->right": up, "right->wrong": len(flips) - up}


def render_comparisons(comparisons: Sequence[ModelComparison], fmt: str) -> str:
    """The comparisons as markdown tables, CSV or JSON."""
    if fmt == "json":
        docs = [
            {
                "base": c.base,
                "other": c.other,
                "rows": comparison_rows(c),
                "breakdown": breakdown_rows(c),
            }
            for c in comparisons
        ]
        return json.dumps(nan_as_null(docs), indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(("base_model", "other_model", *COLUMNS))
        for c in comparisons:
            for row in comparison_rows(c):
                if "metric" in row:
                    writer.writerow((c.base, c.other, *(_cell(row[k]) for k in COLUMNS)))
        return buffer.getvalue()
    return "\n".join(_markdown(c) for c in comparisons)


_HEADER = (
    "| task | metric | base [95% CI] | other [95% CI] | difference [95% CI] | p (Holm) | MDE "
    "| n paired |"
)


def _markdown(comparison: ModelComparison) -> str:
    lines = [
        (
            f"{comparison.other} vs {comparison.base} (difference = other - base; "
            f"{MARKS['better']} better, {MARKS['worse']} worse than the base at p < {ALPHA} "
            "after Holm, by each metric's direction)"
        ),
        "",
        _HEADER,
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    refused: list[str] = []
    mde_notes: dict[str, str] = {}
    for row in comparison_rows(comparison):
        if "refused" in row:
            refused.append(f"- {row['task']}: not paired ({row['refused']})")
            continue
        if "no_flips" in row:
            refused.append(f"- {row['task']}: no flipped items ({row['no_flips']})")
            continue
        mde = _cell(row["mde"])
        if row["mde_note"]:
            mde = mde_notes.setdefault(row["mde_note"], f"n/e{len(mde_notes) + 1}")
        difference = _with_ci(
            row["difference"], row["difference_ci"], signed=True, mark=MARKS[row["verdict"]]
        )
        n = f"{row['n_paired']}" + (f" ({row['n_clusters']} clusters)" if row["n_clusters"] else "")
        lines.append(
            f"| {row['task']} | {row['metric']} | {_with_ci(row['base'], row['base_ci'])} | "
            f"{_with_ci(row['other'], row['other_ci'])} | "
            f"{difference} | "
            f"{_p(row['p_holm'])} | {mde} | {n} |"
        )
    notes = refused + [f"- MDE {mark}: {why}" for why, mark in mde_notes.items()]
    return (
        "\n".join([*lines, *(["", *notes] if notes else []), *_breakdown_markdown(comparison)])
        + "\n"
    )


def _breakdown_markdown(comparison: ModelComparison) -> list[str]:
    rows = breakdown_rows(comparison)
    if not rows:
        return []
    lines = [
        "",
        "Breakdown (p unadjusted: exploratory)",
        "",
        "| task | part | metric | base [95% CI] | other [95% CI] | difference [95% CI] | p | n |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['task']} | {r['part']} | {r['metric']} | {_with_ci(r['base'], r['base_ci'])} | "
        f"{_with_ci(r['other'], r['other_ci'])} | "
        f"{_with_ci(r['difference'], r['difference_ci'], signed=True)} | "
        f"{_p(r['p_value'])} | {r['n_paired']} |"
        for r in rows
    ]
    return lines


def _with_ci(value: float, ci: Sequence[float], *, signed: bool = False, mark: str = "") -> str:
    head = (f"{value:+.4f}" if signed and math.isfinite(value) else _cell(value)) + mark
    if not all(math.isfinite(x) for x in ci):
        return head
    return f"{head} [{ci[0]:.4f}, {ci[1]:.4f}]"


def _p(p: float) -> str:
    if not math.isfinite(p):
        return "-"
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"  # noqa: PLR2004 - display precision


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if math.isfinite(value) else ""
    if isinstance(value, list):
        return " ".join(_cell(v) for v in value)
    return str(value)
