"""Reading both tools' results for compare_lm_eval.py, and the metric, item and timing tables."""

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compare_data import GEN_TASKS, METRICS, TASK_PREFIX, TOLERANCE, write_jsonl


@dataclass
class Timing:
    """Wall time and peak RSS of one subprocess."""

    tool: str
    group: str
    wall_s: float
    peak_rss_mib: float
    returncode: int


def newest(paths: list[Path]) -> Path | None:
    """Return the most recently modified path, or None."""
    return max(paths, key=lambda p: p.stat().st_mtime) if paths else None


def read_lm_eval_results(out_dir: Path) -> dict[str, float]:
    """Return ``{task: acc}`` from the newest lm-eval ``results_*.json`` under ``out_dir``."""
    values: dict[str, float] = {}
    group_dirs = sorted(p for p in out_dir.iterdir() if p.is_dir()) if out_dir.is_dir() else []
    for group_dir in group_dirs:
        path = newest(list(group_dir.rglob("results_*.json")))
        if path is None:
            continue
        results = json.loads(path.read_text(encoding="utf-8"))["results"]
        for name, metrics in results.items():
            task = name.removeprefix(TASK_PREFIX)
            if task in METRICS:
                values[task] = float(metrics[f"{METRICS[task]},none"])
    return values


def read_sbt_results(out_dir: Path) -> dict[str, float]:
    """Return ``{task: acc}`` from every ``<out>/<group>/<model-slug>/results.json``."""
    values: dict[str, float] = {}
    for path in sorted(out_dir.glob("*/*/results.json")):
        tasks = json.loads(path.read_text(encoding="utf-8")).get("tasks", {})
        for task, entry in tasks.items():
            if task in METRICS and METRICS[task] in entry.get("metrics", {}):
                values[task] = float(entry["metrics"][METRICS[task]])
    return values


def choice_loglikelihoods(sample: dict[str, Any]) -> list[float]:
    """Return the per-choice log-likelihoods of one lm-eval ``--log_samples`` record."""
    resps = sample.get("filtered_resps") or [r[0] for r in sample["resps"]]
    return [float(r[0]) for r in resps]


def request_pairs(sample: dict[str, Any]) -> list[tuple[str, str]]:
    """Return the (context, continuation) pairs of one ``--log_samples`` record.

    lm-eval 0.4.13 logs ``arguments`` as ``{"gen_args_0": {"arg_0": ctx, "arg_1": cont}, ...}``;
    older 0.4.x releases logged a list of ``[ctx, cont]`` lists.
    """
    arguments = sample.get("arguments") or []
    if isinstance(arguments, dict):
        ordered = sorted(arguments.items(), key=lambda kv: int(kv[0].rsplit("_", 1)[-1]))
        return [(str(a["arg_0"]), str(a["arg_1"])) for _, a in ordered]
    return [(str(a[0]), str(a[1])) for a in arguments]


def extract_lm_eval_loglikelihoods(out_dir: Path, dest: Path) -> None:
    """Write ``<dest>/<task>.jsonl`` with per-item lm-eval log-likelihoods (doc_id order)."""
    dest.mkdir(parents=True, exist_ok=True)
    for task, metric in METRICS.items():
        if task in GEN_TASKS:  # completions, not log-likelihoods
            continue
        path = newest(list(out_dir.rglob(f"samples_{TASK_PREFIX}{task}_*.jsonl")))
        if path is None:
            continue
        with path.open(encoding="utf-8") as handle:
            samples = [json.loads(line) for line in handle if line.strip()]
        samples.sort(key=lambda s: int(s["doc_id"]))
        rows = []
        for s in samples:
            requests = request_pairs(s)
            rows.append(
                {
                    "doc_id": int(s["doc_id"]),
                    "target": s.get("target"),
                    "loglikelihoods": choice_loglikelihoods(s),
                    "context": requests[0][0] if requests else None,
                    "continuations": [pair[1] for pair in requests],
                    metric: s.get(metric),
                }
            )
        write_jsonl(dest / f"{task}.jsonl", rows)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Read a JSON Lines file."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def item_key(row: dict[str, Any], position: int) -> int:
    """Return the item index of a samples row: its doc_id/index field, else its position."""
    for field in ("doc_id", "index", "idx", "item_index"):
        if isinstance(row.get(field), int):
            return int(row[field])
    return position


def max_item_diff(
    ours: list[dict[str, Any]], theirs: list[dict[str, Any]]
) -> tuple[float, int, int, int]:
    """Return (max |dLL|, item, choice, items compared) between two per-item LL lists."""
    theirs_by_key = {item_key(r, i): r["loglikelihoods"] for i, r in enumerate(theirs)}
    worst = (0.0, -1, -1)
    compared = 0
    for position, row in enumerate(ours):
        key = item_key(row, position)
        other = theirs_by_key.get(key)
        lls = row.get("loglikelihoods")
        if other is None or lls is None or len(other) != len(lls):
            continue
        compared += 1
        for choice, (a, b) in enumerate(zip(lls, other, strict=True)):
            diff = abs(float(a) - float(b))
            if diff > worst[0]:
                worst = (diff, key, choice)
    return worst[0], worst[1], worst[2], compared


def print_item_diffs(sbt_out: Path, lm_lls: Path, backend: str) -> None:
    """Print, per task, the largest per-choice log-likelihood difference between the tools."""
    print(f"\n### Per-item log-likelihoods (sbt-bench {backend} vs lm-eval)\n")
    print("| task | items compared | max abs(dLL) | at item | choice |")
    print("|---|---:|---:|---:|---:|")
    for task in (t for t in METRICS if t not in GEN_TASKS):  # generations have no choices
        sbt_path = newest(list(sbt_out.glob(f"*/*/samples_{task}.jsonl")))
        lm_path = lm_lls / f"{task}.jsonl"
        if sbt_path is None and not lm_path.is_file():
            continue  # a group this run left out
        if sbt_path is None or not lm_path.is_file():
            print(f"| {task} | n/a (missing samples) | | | |")
            continue
        ours = read_jsonl(sbt_path)
        if not any("loglikelihoods" in row for row in ours):
            print(f"| {task} | n/a (no `loglikelihoods` field) | | | |")
            continue
        diff, item, choice, compared = max_item_diff(ours, read_jsonl(lm_path))
        print(f"| {task} | {compared} | {diff:.3g} | {item} | {choice} |")


def format_value(value: float | None) -> str:
    """Format a metric value for the table."""
    return "n/a" if value is None else f"{value:.6f}"


def print_metric_table(lm: dict[str, float], sbt: dict[str, dict[str, float]]) -> tuple[int, int]:
    """Print lm-eval's value and each sbt-bench backend's beside it (``sbt``: backend -> values).

    Returns (number of mismatches, number of missing values); a task none ran is left out.
    """
    mismatches = missing = 0
    backends = list(sbt)
    print("\n### Metrics\n")
    head = " | ".join(f"sbt-bench {b} | abs(diff)" for b in backends)
    print(f"| task | metric | lm-eval | {head} | match (<=1e-4) |")
    print("|---|---|---:|" + "---:|---:|" * len(backends) + ":---:|")
    for task, metric in METRICS.items():
        a = lm.get(task)
        values = [sbt[b].get(task) for b in backends]
        if a is None and all(v is None for v in values):
            continue
        cells, ok_all = [], True
        for b in values:
            if a is None or b is None:
                missing += 1
                cells += [format_value(b), "n/a"]
                ok_all = False
                continue
            diff = abs(a - b)
            ok = diff <= TOLERANCE and not math.isnan(diff)
            ok_all &= ok
            mismatches += not ok
            cells += [format_value(b), f"{diff:.2e}"]
        row = (task, metric, format_value(a), *cells, "yes" if ok_all else "**NO**")
        print("| " + " | ".join(row) + " |")
    return mismatches, missing


def lm_eval_generations(out_dir: Path, task: str) -> list[str] | None:
    """lm-eval's completions of a generation task in doc_id order (``--log_samples``)."""
    path = newest(list(out_dir.rglob(f"samples_{TASK_PREFIX}{task}_*.jsonl")))
    if path is None:
        return None
    samples = sorted(read_jsonl(path), key=lambda s: int(s["doc_id"]))
    return [str((s.get("filtered_resps") or s["resps"][0])[0]) for s in samples]


def print_generation_table(lm_out: Path, sbt_outs: dict[str, Path], tasks: tuple[str, ...]) -> int:
    """Per generation task and backend: completions identical to lm-eval's; returns mismatches."""
    print("\n### Greedy completions (identical to lm-eval's, after its strip)\n")
    print("| task | backend | identical | compared |")
    print("|---|---|---:|---:|")
    differing = 0
    for task in tasks:
        theirs = lm_eval_generations(lm_out, task)
        for backend, out in sbt_outs.items():
            path = newest(list(out.glob(f"*/*/samples_{task}.jsonl")))
            if theirs is None or path is None:
                print(f"| {task} | {backend} | n/a | |")
                continue
            ours = [str(r["generation"]) for r in read_jsonl(path)]
            same = sum(a.strip() == b.strip() for a, b in zip(ours, theirs, strict=False))
            differing += len(ours) - same
            print(f"| {task} | {backend} | {same} | {len(ours)} |")
    return differing


def print_timing_table(timings: list[Timing]) -> None:
    """Print wall time, lm-eval's time over each tool's, and peak RSS per tool and group."""
    lm_eval = {t.group: t.wall_s for t in timings if t.tool == "lm-eval" and t.returncode == 0}
    print("\n### Wall time and peak memory (whole subprocess)\n")
    print("| tool | tasks | wall time (s) | speed-up vs lm-eval | peak RSS (MiB) | exit code |")
    print("|---|---|---:|---:|---:|---:|")
    for t in timings:
        ratio = lm_eval.get(t.group, 0.0) / t.wall_s if t.wall_s and t.tool != "lm-eval" else 0.0
        shown = f"{ratio:.1f}x" if ratio else ""
        print(
            f"| {t.tool} | {t.group} | {t.wall_s:.1f} | {shown} | {t.peak_rss_mib:.0f} "
            f"| {t.returncode} |"
        )
    for tool in dict.fromkeys(t.tool for t in timings):
        mine = [t for t in timings if t.tool == tool]
        wall = sum(t.wall_s for t in mine)
        rss = max(t.peak_rss_mib for t in mine)
        print(f"| {tool} | **total** | {wall:.1f} | | {rss:.0f} (max) | |")


# --------------------------------------------------------------------------- main
