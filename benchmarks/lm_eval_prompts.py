# ruff: noqa: PLC0415 - each half imports what only its own interpreter has
"""Save lm-evaluation-harness 0.4's own prompts (chat template, system instruction, few-shot).

The strings pin `tests/evaluation/test_prompting.py`: SBT-Bench must build exactly these.
lm-eval runs offline on local copies of the first items and of the few-shot pools, with
the SmolLM2 tokenizer, and its own `build_all_requests` and `HFLM.apply_chat_template`:

    python3 -m venv /tmp/lmeval && /tmp/lmeval/bin/pip install lm-eval==0.4.13 torch==2.13.0 \
        transformers gguf accelerate peft
    python3 benchmarks/lm_eval_prompts.py --lm-eval-python /tmp/lmeval/bin/python \
        --data-dir ../shared/data --output tests/fixtures/lm_eval_prompts.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

N_ITEMS = 3
SYSTEM = "You are a careful assistant. Answer truthfully."
# (case name, lm-eval task, sbt task, apply_chat_template, fewshot_as_multiturn, system, shots)
CASES: list[tuple[str, str, str, bool, bool, str | None, int]] = [
    ("truthfulqa_mc1_chat", "truthfulqa_mc1", "truthfulqa_mc1", True, True, None, 0),
    ("truthfulqa_mc2_chat_system", "truthfulqa_mc2", "truthfulqa_mc2", True, True, SYSTEM, 0),
    ("truthfulqa_gen_chat", "truthfulqa_gen", "truthfulqa_gen", True, True, None, 0),
    ("ethics_cm_chat", "ethics_cm", "ethics_cm", True, True, None, 0),
    ("ethics_justice_chat_3shot", "ethics_justice", "ethics_justice", True, True, None, 3),
    (
        "ethics_deontology_chat_2shot_single_turn_system",
        "ethics_deontology",
        "ethics_deontology",
        True,
        False,
        SYSTEM,
        2,
    ),
    (
        "ethics_utilitarianism_chat_2shot",
        "ethics_utilitarianism",
        "ethics_utilitarianism",
        True,
        True,
        None,
        2,
    ),
    ("ethics_virtue_plain_2shot_system", "ethics_virtue", "ethics_virtue", False, False, SYSTEM, 2),
]
# lm-eval task -> (its YAML under lm_eval/tasks, sbt task whose raw records feed it, pool task)
LM_EVAL_TASKS = {
    "truthfulqa_mc1": ("truthfulqa/truthfulqa_mc1.yaml", "truthfulqa_mc1", None),
    "truthfulqa_mc2": ("truthfulqa/truthfulqa_mc2.yaml", "truthfulqa_mc2", None),
    "truthfulqa_gen": ("truthfulqa/truthfulqa_gen.yaml", "truthfulqa_gen", None),
    "ethics_cm": ("hendrycks_ethics/commonsense.yaml", "ethics_cm", None),
    "ethics_justice": ("hendrycks_ethics/justice.yaml", "ethics_justice", "train"),
    "ethics_deontology": ("hendrycks_ethics/deontology.yaml", "ethics_deontology", "train"),
    "ethics_utilitarianism": (
        "hendrycks_ethics/utilitarianism.yaml",
        "ethics_utilitarianism",
        "train",
    ),
    "ethics_virtue": ("hendrycks_ethics/virtue.yaml", "ethics_virtue", "train"),
}


def prepare(data_dir: Path, work: Path) -> None:
    """Raw records (before sbt's processors: lm-eval applies its own) and the tokenizer."""
    from sbt_bench.backends import parse_model_spec
    from sbt_bench.backends.hf_loading import load_processing
    from sbt_bench.tasks import TASKS
    from sbt_bench.tasks.readers import READERS

    for name, (_, sbt_task, pool) in LM_EVAL_TASKS.items():
        spec = TASKS.get(sbt_task)
        split = "validation" if sbt_task.startswith("truthfulqa") else "test"
        records = READERS.get(spec.dataset.reader)(data_dir / spec.dataset.local_file)
        files = {split: _write_jsonl(work / f"{name}_{split}.jsonl", records[:N_ITEMS])}
        if pool is not None:
            assert spec.fewshot is not None
            pool_records = READERS.get(spec.dataset.reader)(data_dir / spec.fewshot.local_file)
            files[pool] = _write_jsonl(work / f"{name}_{pool}.jsonl", pool_records)
        (work / "tasks" / f"local_{name}.yaml").parent.mkdir(exist_ok=True)
        (work / "tasks" / f"local_{name}.yaml").write_text(json.dumps({"files": files}))
    tokenizer = load_processing(parse_model_spec("smollm2"))
    tokenizer.save_pretrained(work / "tokenizer")
    (work / "chat_template.jinja").write_text(tokenizer.chat_template, encoding="utf-8")


def _write_jsonl(path: Path, records: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return str(path)


def render(work: Path) -> list[dict[str, Any]]:
    """Under lm-eval's interpreter: its prompts for every case."""
    from types import SimpleNamespace

    import lm_eval
    import yaml
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager
    from transformers import AutoTokenizer

    tasks_dir = Path(lm_eval.__file__).parent / "tasks"
    for name, (yaml_file, _, pool) in LM_EVAL_TASKS.items():
        meta = json.loads((work / "tasks" / f"local_{name}.yaml").read_text())
        config = {
            "include": str(tasks_dir / yaml_file),
            "task": f"local_{name}",
            "tag": [],
            "dataset_path": "json",
            "dataset_name": None,
            "dataset_kwargs": {"data_files": meta["files"]},
        }
        if pool is None and not name.startswith("truthfulqa"):
            config["training_split"] = None
        (work / "tasks" / f"local_{name}.yaml").write_text(yaml.safe_dump(config))
    stub = SimpleNamespace(
        tokenizer=AutoTokenizer.from_pretrained(work / "tokenizer"), chat_template_args={}
    )

    def chat_template(history: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        return HFLM.apply_chat_template(stub, history, add_generation_prompt)  # type: ignore[arg-type]

    manager = TaskManager(include_path=str(work / "tasks"))
    out = []
    for case, lm_task, sbt_task, chat, multiturn, system, shots in CASES:
        task = manager.load_task_or_group([f"local_{lm_task}"])[f"local_{lm_task}"]
        task.set_config(key="num_fewshot", value=shots)
        task.set_fewshot_seed(seed=1234)
        task.build_all_requests(
            limit=N_ITEMS,
            apply_chat_template=chat,
            fewshot_as_multiturn=multiturn,
            system_instruction=system,
            chat_template=chat_template if chat else None,
        )
        items: dict[int, dict[str, Any]] = {}
        for inst in sorted(task.instances, key=lambda i: (i.doc_id, i.idx)):
            first = {"context": inst.arguments[0], "continuations": []}
            item = items.setdefault(inst.doc_id, first)
            if inst.request_type == "loglikelihood":
                item["continuations"].append(inst.arguments[1])
        out.append(
            {
                "case": case,
                "task": sbt_task,
                "apply_chat_template": chat,
                "fewshot_as_multiturn": multiturn,
                "system_instruction": system,
                "num_fewshot": shots,
                "items": [items[k] for k in sorted(items)],
            }
        )
    return out


def main() -> None:
    """Prepare under this interpreter, render under lm-eval's, write the fixture."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lm-eval-python", help="lm-eval 0.4.13's python (required)")
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--output", default="tests/fixtures/lm_eval_prompts.json")
    parser.add_argument("--render", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.render:
        print(json.dumps(render(Path(args.render))))
        return
    if not args.lm_eval_python:
        parser.error("--lm-eval-python is required")
    with tempfile.TemporaryDirectory() as tmp:
        prepare(Path(args.data_dir), Path(tmp))
        env = {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
        proc = subprocess.run(
            [args.lm_eval_python, __file__, "--render", tmp],
            capture_output=True,
            text=True,
            check=False,
            env=env,
        )
        if proc.returncode:
            sys.exit(proc.stderr[-3000:])
        cases = json.loads(proc.stdout.strip().splitlines()[-1])
        template = (Path(tmp) / "chat_template.jinja").read_text(encoding="utf-8")
    # The template goes with the strings, so the test renders them without loading SmolLM2.
    fixture = {"chat_template": template, "cases": cases}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(fixture, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {len(cases)} cases to {args.output}")


if __name__ == "__main__":
    main()
