"""The items both tools score in compare_lm_eval.py: JSONL in the hub layout, harness task YAMLs."""

import csv
import json
import shutil
import subprocess
from dataclasses import dataclass
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
    "truthfulqa_gen": ("truthfulqa/truthfulqa_gen.yaml", "validation"),
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
GEN_TASKS = ("truthfulqa_gen",)
METRICS: dict[str, str] = dict.fromkeys((*TRUTHFULQA_TASKS, *ETHICS_TASKS), "acc") | {
    "truthfulqa_gen": "bleu_max"
}


@dataclass(frozen=True)
class RunGroup:
    """One invocation of each tool: a name, its tasks and its item limit."""

    name: str
    tasks: tuple[str, ...]
    limit: int


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


def read_truthfulqa_gen(data_dir: Path, limit: int) -> list[dict[str, Any]]:
    """The first ``limit`` questions in the hub's generation layout (the CSV's rows)."""
    return load_records("truthfulqa_gen", TASKS.get("truthfulqa_gen").dataset, data_dir)[:limit]


def write_datasets(
    data_dir: Path, out_dir: Path, tq_limit: int, ethics_limit: int, gen_limit: int = 0
) -> None:
    """Write one JSONL per task into ``out_dir`` (TruthfulQA mc1 and mc2 share one file)."""
    tq = read_truthfulqa(data_dir, tq_limit)
    write_jsonl(out_dir / "truthfulqa_mc.jsonl", tq)
    write_jsonl(out_dir / "truthfulqa_gen.jsonl", read_truthfulqa_gen(data_dir, gen_limit))
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
