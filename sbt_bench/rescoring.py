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
from sbt_bench.files import read_text
from sbt_bench.registry import Registry
from sbt_bench.results import new_results, read_results, save_results, write_samples
from sbt_bench.runner import RunConfig, aggregate_groups, plan_task, score_task
from sbt_bench.tasks import GROUPS, TASKS, build_task
from sbt_bench.tasks.base import is_judged
from sbt_bench.tasks.readers import Record
from sbt_bench.tasks.vqa_readers import read_json_objects
from sbt_bench.types import Response

# (answers file or folder, the task's records) -> answer text per sample id (the record's
# index, or "<index>/<corruption>@<severity>" for an image variant).
AnswerReader = Callable[[Path, Sequence[Record]], dict[str, str]]

# Keyed by the task's data reader, since the answer format follows the benchmark's files.
ANSWER_READERS: Registry[AnswerReader] = Registry("answer format")


def score_predictions(task_name: str, predictions: Path, cfg: RunConfig) -> dict[str, Any]:
    """Score one task from recorded answers and write results like `run` does."""
    if not predictions.exists():
        raise SbtError(f"predictions {predictions} do not exist")
    task = build_task(TASKS.get(task_name), cfg.parser)
    if is_judged(task.spec):
        raise SbtError(
            f"{task_name} is scored by a judge model; rerun it with sbt-bench run --judge "
            "(cached answers are reused, only the judge runs)"
        )
    plan = plan_task(task, cfg, check_images=False)
    if _is_samples_file(predictions):
        answers = read_sbt_samples(predictions, plan.records)
    else:
        answers = ANSWER_READERS.get(task.spec.dataset.reader)(predictions, plan.records)
    unanswered = [s.id for s in plan.samples if s.id not in answers]
    if unanswered:
        raise SbtError(
            f"{predictions}: {len(unanswered)} of {len(plan.samples)} {task_name} items have "
            f"no answer (first: item {unanswered[0]}); pass --limit or complete the answers file"
        )
    responses = [Response(text=answers[s.id]) for s in plan.samples]
    outcome = score_task(plan, responses, cfg)
    # One folder per answers file: scoring the three POPE splits from LLaVA's one file
    # fills one results.json, so the group's mean F1 appears as for a run.
    folder = cfg.output_dir / f"predictions__{predictions.stem}"
    path = folder / "results.json"
    model = {"name": f"predictions:{predictions}", "backend": "predictions"}
    results = read_results(path) if path.exists() else new_results(model, {})
    results["config"] = {"limit": cfg.limit, "parser": cfg.parser}
    results["tasks"][task_name] = outcome.result.to_json()
    groups = [GROUPS.get(g) for g in GROUPS.names()]
    results["groups"] = aggregate_groups(results["tasks"], groups)
    write_samples(folder / f"samples_{task_name}.jsonl", outcome.items)
    save_results(path, results)
    return results


def _is_samples_file(path: Path) -> bool:
    return path.is_file() and path.name.startswith("samples_") and path.suffix == ".jsonl"


def read_sbt_samples(path: Path, _records: Sequence[Record]) -> dict[str, str]:
    """sbt-bench's own `samples_<task>.jsonl` (to rescore with another parser)."""
    answers = {}
    for line, item in read_json_objects(path):
        if "id" not in item or "generation" not in item:
            raise SbtError(f"{path}:{line}: not an sbt-bench generation samples line")
        answers[str(item["id"])] = str(item["generation"])
    return answers


@ANSWER_READERS("mme_eval_tool")
def read_mme_answers(folder: Path, records: Sequence[Record]) -> dict[str, str]:
    """The eval tool's folder: `<subtask>.txt` lines of image, question, truth, answer."""
    if not folder.is_dir():
        raise SbtError(f"{folder}: MME answers are a folder of <subtask>.txt files")
    index = {(r["category"], r["image"], r["question"]): i for i, r in enumerate(records)}
    answers = {}
    for path in sorted(folder.glob("*.txt")):
        for line_no, line in enumerate(read_text(path).splitlines(), 1):
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
                answers[str(index[key])] = fields[3]
    return answers


@ANSWER_READERS("pope_json")
def read_pope_answers(path: Path, records: Sequence[Record]) -> dict[str, str]:
    """POPE's `{"question", "answer"}` lines in label order, or LLaVA's `{"question_id", "text"}`.

    POPE's lines are matched by position, LLaVA's by question id. LLaVA numbers its merged
    three-split question file differently from POPE's label files, so where a LLaVA line
    carries its `prompt`, the prompt must ask the matched item's question.
    """
    by_id = {str(r["question_id"]): i for i, r in enumerate(records)}
    answers: dict[str, str] = {}
    for position, (line, item) in enumerate(read_json_objects(path)):
        if "question_id" in item and "text" in item:
            index = by_id.get(str(item["question_id"]))
            if index is None:
                continue
            question = records[index]["question"]
            if "prompt" in item and not str(item["prompt"]).strip().startswith(question):
                raise SbtError(
                    f"{path}:{line}: question_id {item['question_id']} asks "
                    f"{str(item['prompt'])[:60]!r}, not {question!r}; split LLaVA's merged "
                    "answers by category first, one file per POPE split"
                )
            answers[str(index)] = str(item["text"])
        elif "answer" in item:
            if position >= len(records):
                continue
            expected = records[position]["question"]
            if item.get("question", expected) != expected:
                raise SbtError(
                    f"{path}:{line}: question differs from the label file's line {position + 1}; "
                    "POPE answer files must follow the label file's order"
                )
            answers[str(position)] = str(item["answer"])
        else:
            raise SbtError(f"{path}:{line}: expected {{question, answer}} or {{question_id, text}}")
    return answers


@ANSWER_READERS("unicorn_json")
def read_unicorn_answers(path: Path, records: Sequence[Record]) -> dict[str, str]:
    """Unicorn answers in any of three shapes.

    - sbt-style objects with image, question and the reply (`prediction`, `answer` or
      `text`), in any order;
    - OODCV's `evaluation.py` dict keyed by image path (it keeps each image's last question);
    - Sketchy's `[{"answer", "label", "image_path"}]` list, in question-file order.
    Image paths may be absolute (the scripts join the data folder); they match by suffix.
    """
    data = _parse_json_document(path)
    if isinstance(data, dict) and not {"image", "question"} <= data.keys():
        return _read_unicorn_by_image(path, data, records)
    items = read_json_objects(path)
    if items and "image_path" in items[0][1]:
        return _read_sketchy_script(path, items, records)
    index = {(r["image"], r["question"]): str(i) for i, r in enumerate(records)}
    answers = {}
    for line, item in items:
        reply = next((item[k] for k in ("prediction", "answer", "text") if k in item), None)
        key = (item.get("image"), item.get("question"))
        if reply is None or key not in index:
            raise SbtError(f"{path}:{line}: needs image, question and prediction of a known item")
        answers[index[key]] = str(reply)
    return answers


def _parse_json_document(path: Path) -> Any:
    """The file as one JSON value, or None when it is JSON lines (several values)."""
    try:
        return json.loads(read_text(path, encoding="utf-8-sig"))
    except json.JSONDecodeError:
        return None


def _same_image(path: str, relative: str) -> bool:
    return path == relative or path.endswith("/" + relative)


def _read_unicorn_by_image(
    path: Path, data: dict[str, Any], records: Sequence[Record]
) -> dict[str, str]:
    """The OODCV script's dict: one prediction per image, for the image's last question."""
    last = {r["image"]: str(i) for i, r in enumerate(records)}
    answers = {}
    for image, entry in data.items():
        if not isinstance(entry, dict) or "prediction" not in entry:
            raise SbtError(f"{path}: entry {image!r} has no prediction")
        match = [rel for rel in last if _same_image(image, rel)]
        if not match:
            raise SbtError(f"{path}: entry {image!r} is no image of this task's question file")
        answers[last[match[0]]] = str(entry["prediction"])
    return answers


def _read_sketchy_script(
    path: Path, items: Sequence[tuple[int, dict[str, Any]]], records: Sequence[Record]
) -> dict[str, str]:
    """Sketchy's script output, paired by position, each line checked against its item."""
    answers = {}
    for position, (line, item) in enumerate(items[: len(records)]):
        record = records[position]
        if not _same_image(str(item.get("image_path", "")), record["image"]):
            raise SbtError(
                f"{path}:{line}: image {item.get('image_path')!r} is not item {position}'s "
                f"{record['image']!r}; the answers must follow the question file's order"
            )
        answers[str(position)] = str(item["answer"])
    return answers


def read_coco_results(path: Path, records: Sequence[Record]) -> dict[str, str]:
    """A COCO-format captioning results file: `[{"image_id": ..., "caption": ...}, ...]`."""
    by_id = {str(r["image_id"]): str(i) for i, r in enumerate(records)}
    items = read_json_objects(path)
    answers = {}
    for line, item in items:
        if "image_id" not in item or "caption" not in item:
            raise SbtError(f"{path}:{line}: COCO results need image_id and caption")
        if str(item["image_id"]) in by_id:
            answers[by_id[str(item["image_id"])]] = str(item["caption"])
    return answers


ANSWER_READERS.register("coco_karpathy_json", read_coco_results)
ANSWER_READERS.register("flickr30k_karpathy_json", read_coco_results)
