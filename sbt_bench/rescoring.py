"""`sbt-bench score`: score answers produced elsewhere, in each benchmark's own answer format.

Answers are matched to the task's items (by question id, by image and question, or by
position where the format has no ids); an item without an answer is an error, never a
silently smaller denominator.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sbt_bench.errors import SbtError
from sbt_bench.registry import Registry
from sbt_bench.results import new_results, save_results, write_samples
from sbt_bench.runner import RunConfig, TaskPlan, score_task
from sbt_bench.tasks import TASKS, build_task
from sbt_bench.tasks.readers import Record
from sbt_bench.tasks.source import describe_source, load_records
from sbt_bench.tasks.vqa_readers import read_json_objects
from sbt_bench.types import Response

# (answers file or folder, the task's records) -> answer text per record index.
AnswerReader = Callable[[Path, Sequence[Record]], dict[int, str]]

# Keyed by the task's data reader, since the answer format follows the benchmark's files.
ANSWER_READERS: Registry[AnswerReader] = Registry("answer format")


def score_predictions(task_name: str, predictions: Path, cfg: RunConfig) -> dict[str, Any]:
    """Score one task from recorded answers and write results like `run` does."""
    if not predictions.exists():
        raise SbtError(f"predictions {predictions} do not exist")
    task = build_task(TASKS.get(task_name), cfg.parser)
    spec = task.spec
    records = load_records(spec.task, spec.dataset, cfg.data_dir)
    chosen = records if cfg.limit is None else records[: cfg.limit]
    if _is_samples_file(predictions):
        answers = read_sbt_samples(predictions, chosen)
    else:
        answers = ANSWER_READERS.get(spec.dataset.reader)(predictions, chosen)
    unanswered = [i for i in range(len(chosen)) if i not in answers]
    if unanswered:
        raise SbtError(
            f"{predictions}: {len(unanswered)} of {len(chosen)} {task_name} items have no answer "
            f"(first: item {unanswered[0]}); pass --limit or complete the answers file"
        )
    samples, responses = [], []
    for i, record in enumerate(chosen):
        for sample in task.build_samples(i, record, cfg.data_dir):
            samples.append(sample)
            responses.append(Response(text=answers[i]))
    plan = TaskPlan(
        task=task,
        samples=samples,
        requests=[task.requests(s) for s in samples],
        n_available=len(records),
        data_source=describe_source(spec.dataset, cfg.data_dir),
    )
    outcome = score_task(plan, responses, cfg)
    folder = cfg.output_dir / f"predictions__{predictions.stem}"
    model = {"name": f"predictions:{predictions}", "backend": "predictions"}
    results = new_results(model, {"limit": cfg.limit, "parser": cfg.parser})
    results["tasks"][task_name] = outcome.result.to_json()
    write_samples(folder / f"samples_{task_name}.jsonl", outcome.items)
    save_results(folder / "results.json", results)
    return results


def _is_samples_file(path: Path) -> bool:
    return path.is_file() and path.name.startswith("samples_") and path.suffix == ".jsonl"


def read_sbt_samples(path: Path, records: Sequence[Record]) -> dict[int, str]:
    """sbt-bench's own `samples_<task>.jsonl` (to rescore with another parser)."""
    answers = {}
    for line, item in read_json_objects(path):
        if "id" not in item or "generation" not in item:
            raise SbtError(f"{path}:{line}: not an sbt-bench generation samples line")
        index = int(str(item["id"]).split("/")[0])
        if index < len(records):
            answers[index] = str(item["generation"])
    return answers


@ANSWER_READERS("mme_eval_tool")
def read_mme_answers(folder: Path, records: Sequence[Record]) -> dict[int, str]:
    """The eval tool's folder: `<subtask>.txt` lines of image, question, truth, answer."""
    if not folder.is_dir():
        raise SbtError(f"{folder}: MME answers are a folder of <subtask>.txt files")
    index = {(r["category"], r["image"], r["question"]): i for i, r in enumerate(records)}
    answers = {}
    for path in sorted(folder.glob("*.txt")):
        for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) != 4:  # noqa: PLR2004 - image, question, truth, answer
                raise SbtError(
                    f"{path}:{line_no}: expected 4 tab-separated columns "
                    "(image, question, truth, answer); fix that line"
                )
            key = (path.stem, fields[0].strip(), fields[1].strip())
            if key in index:
                # The eval tool reads the reply as it is, line ending stripped.
                answers[index[key]] = fields[3]
    return answers


@ANSWER_READERS("pope_json")
def read_pope_answers(path: Path, records: Sequence[Record]) -> dict[int, str]:
    """POPE's `{"question", "answer"}` lines in label order, or LLaVA's `{"question_id", "text"}`.

    LLaVA's lines are matched by question id, POPE's by position.
    """
    items = read_json_objects(path)
    by_id = {str(r["question_id"]): i for i, r in enumerate(records)}
    answers: dict[int, str] = {}
    for position, (line, item) in enumerate(items):
        if "question_id" in item and "text" in item:
            qid = str(item["question_id"])
            if qid in by_id:
                answers[by_id[qid]] = str(item["text"])
        elif "answer" in item:
            if position >= len(records):
                continue
            expected = records[position]["question"]
            if item.get("question", expected) != expected:
                raise SbtError(
                    f"{path}:{line}: question differs from the label file's line {position + 1}; "
                    "POPE answer files must follow the label file's order"
                )
            answers[position] = str(item["answer"])
        else:
            raise SbtError(f"{path}:{line}: expected {{question, answer}} or {{question_id, text}}")
    return answers


@ANSWER_READERS("unicorn_json")
def read_unicorn_answers(path: Path, records: Sequence[Record]) -> dict[int, str]:
    """Unicorn answers: objects with image, question and the reply, in any order.

    The reply is under `prediction`, `answer` or `text`. The evaluation script's dict keyed
    by image is read too (it holds each image's last question only).
    """
    text = path.read_text(encoding="utf-8")
    index = {(r["image"], r["question"]): i for i, r in enumerate(records)}
    if text.lstrip().startswith("{") and not text.lstrip().startswith('{"image"'):
        return _read_unicorn_by_image(path, json.loads(text), records)
    answers = {}
    for line, item in read_json_objects(path):
        reply = next((item[k] for k in ("prediction", "answer", "text") if k in item), None)
        key = (item.get("image"), item.get("question"))
        if reply is None or key not in index:
            raise SbtError(f"{path}:{line}: needs image, question and prediction of a known item")
        answers[index[key]] = str(reply)
    return answers


def _read_unicorn_by_image(
    path: Path, data: dict[str, Any], records: Sequence[Record]
) -> dict[int, str]:
    """The script's dict: one prediction per image, for the image's last question."""
    last = {r["image"]: i for i, r in enumerate(records)}
    answers = {}
    for image, entry in data.items():
        if not isinstance(entry, dict) or "prediction" not in entry:
            raise SbtError(f"{path}: entry {image!r} has no prediction")
        if image in last:
            answers[last[image]] = str(entry["prediction"])
    return answers
