"""`sbt-bench score`: score answers produced elsewhere, in each benchmark's own answer format.

Answers are matched to the task's items (by question id, by image and question, or by
position where the format has no ids); an item without an answer is an error, never a
silently smaller denominator, and so is an answer for no item or a second answer for one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from sbt_bench.core.errors import SbtError
from sbt_bench.core.files import read_json_lines, read_text
from sbt_bench.core.registry import Registry
from sbt_bench.core.types import Response
from sbt_bench.evaluation.runner import RunConfig, TaskPlan, plan_task, score_task
from sbt_bench.rescoring.answer_sheet import AnswerSheet
from sbt_bench.results.folder import commit_results, start_results
from sbt_bench.results.group_means import aggregate_groups
from sbt_bench.results.records import read_results
from sbt_bench.results.schema import ModelIdentity, RecordedConfig, RunResults, TaskResult
from sbt_bench.tasks import build_task
from sbt_bench.tasks.base import Task, is_judged
from sbt_bench.tasks.letters import LetterChoiceTask
from sbt_bench.tasks.readers import Record

# (answers file or folder, all the task's records) -> answer text per sample id (the
# record's index, or "<index>/<corruption>@<severity>" for an image variant).
AnswerReader = Callable[[Path, Sequence[Record]], AnswerSheet]

# Keyed by the task's data reader, since the answer format follows the benchmark's files.
ANSWER_READERS: Registry[AnswerReader] = Registry("answer format")


def score_predictions(task_name: str, predictions: Path, cfg: RunConfig) -> RunResults:
    """Score one task from recorded answers and write results like `run` does."""
    if not predictions.exists():
        raise SbtError(f"predictions {predictions} do not exist")
    recorded = recorded_entry(predictions, task_name) if _is_samples_file(predictions) else None
    if recorded is not None and recorded.predict_only and recorded.shuffle_seed is not None:
        # A letters-protocol answers file: read with the option order its run showed.
        cfg = replace(cfg, seed=recorded.shuffle_seed)
        task = build_task(
            cfg.catalog.tasks.get(task_name),
            cfg.parser,
            mc_protocol="letters",
            seed=cfg.seed,
            hooks=cfg.catalog.hooks,
        )
    else:
        task = build_task(cfg.catalog.tasks.get(task_name), cfg.parser, hooks=cfg.catalog.hooks)
    if is_judged(task):
        raise SbtError(
            f"{task_name} is scored by a judge model; rerun it with sbt-bench run --judge "
            "(cached answers are reused, only the judge runs)"
        )
    # Answers are matched against every item, so an answer beyond --limit is not "unknown".
    full = plan_task(task, replace(cfg, limit=None), check_images=False)
    plan = full if cfg.limit is None else plan_task(task, cfg, check_images=False)
    if recorded is not None and recorded.prompt:
        # A `run --predict-only` file: its run's prompt settings go with its numbers.
        plan = replace(plan, prompt=recorded.prompt)
    answers = read_answers(predictions, task, full)
    unanswered = [s.id for s in plan.samples if s.id not in answers]
    if unanswered:
        raise SbtError(
            f"{predictions}: {len(unanswered)} of {len(plan.samples)} {task_name} items have "
            f"no answer (first: item {unanswered[0]}); pass --limit or complete the answers file"
        )
    responses = [r for s in plan.samples for r in answers[s.id]]
    finished = score_task(plan, responses, cfg)
    # One folder per answers file: scoring the three POPE splits from LLaVA's one file
    # fills one results.json, so the group's mean F1 appears as for a run.
    folder = cfg.output_dir / f"predictions__{predictions.stem}"
    model = ModelIdentity(name=f"predictions:{predictions}", backend="predictions")
    config = RecordedConfig(limit=cfg.limit, parser=cfg.parser)
    results = start_results(folder, model, config, overwrite=False)
    groups = [cfg.catalog.groups.get(g) for g in cfg.catalog.groups.names()]
    return commit_results(
        folder,
        results,
        {task_name: finished.to_commit()},
        lambda tasks: aggregate_groups(tasks, groups),
    )


def read_answers(predictions: Path, task: Task, full: TaskPlan) -> dict[str, tuple[Response, ...]]:
    """Each item's responses as recorded: sbt-bench samples lines, or the benchmark's format."""
    ids = {s.id for s in full.samples}
    if _is_samples_file(predictions) and isinstance(task, LetterChoiceTask):
        return read_sbt_letters(predictions, ids)
    if _is_samples_file(predictions) and task.spec.kind == "multiple_choice":
        return read_sbt_choices(predictions, ids)
    reader = (
        read_sbt_samples
        if _is_samples_file(predictions)
        else ANSWER_READERS.get(task.spec.dataset.reader)
    )
    sheet = reader(predictions, full.records)
    sheet.check_known(ids)
    return {k: (Response(text=v),) for k, v in sheet.answers.items()}


def _is_samples_file(path: Path) -> bool:
    return path.is_file() and path.name.startswith("samples_") and path.suffix == ".jsonl"


def read_sbt_samples(path: Path, _records: Sequence[Record]) -> AnswerSheet:
    """sbt-bench's own `samples_<task>.jsonl` (to rescore with another parser)."""
    sheet = AnswerSheet(path)
    for line, item in read_json_lines(path):
        if "id" not in item or "generation" not in item:
            raise SbtError(f"{path}:{line}: not an sbt-bench generation samples line")
        sheet.add(str(item["id"]), str(item["generation"]), line, f"item {item['id']}")
    return sheet


def read_sbt_choices(path: Path, ids: set[str]) -> dict[str, tuple[Response, ...]]:
    """Per-choice log-likelihoods of a multiple-choice samples file (`run --predict-only`)."""
    answers: dict[str, tuple[Response, ...]] = {}
    for line, item in read_json_lines(path):
        if "id" not in item or "loglikelihoods" not in item:
            raise SbtError(f"{path}:{line}: not an sbt-bench multiple-choice samples line")
        key = str(item["id"])
        if key not in ids or key in answers:
            raise SbtError(f"{path}:{line}: item {key} is unknown or answered twice")
        greedy = item.get("is_greedy") or [False] * len(item["loglikelihoods"])
        answers[key] = tuple(
            Response(logprob=float(ll), is_greedy=bool(g))
            for ll, g in zip(item["loglikelihoods"], greedy, strict=True)
        )
    return answers


def read_sbt_letters(path: Path, ids: set[str]) -> dict[str, tuple[Response, ...]]:
    """The generated letter and first-token top_logprobs of a letters-protocol samples file."""
    answers: dict[str, tuple[Response, ...]] = {}
    for line, item in read_json_lines(path):
        if "id" not in item or "generation" not in item or "top_logprobs" not in item:
            raise SbtError(
                f"{path}:{line}: not an sbt-bench letters samples line (id, generation and "
                "top_logprobs); rerun it with this sbt-bench's run --predict-only"
            )
        key = str(item["id"])
        if key not in ids or key in answers:
            raise SbtError(f"{path}:{line}: item {key} is unknown or answered twice")
        tops = {str(k): float(v) for k, v in (item["top_logprobs"] or {}).items()}
        answers[key] = (Response(text=item["generation"], top_logprobs=tops or None),)
    return answers


def recorded_entry(samples: Path, task: str) -> TaskResult | None:
    """The entry the run beside a samples file recorded for the task, if any."""
    results = samples.parent / "results.json"
    if not results.is_file():
        return None
    return read_results(results).tasks.get(task)


@ANSWER_READERS("mme_eval_tool")
def read_mme_answers(folder: Path, records: Sequence[Record]) -> AnswerSheet:
    """The eval tool's folder: `<subtask>.txt` lines of image, question, truth, answer."""
    if not folder.is_dir():
        raise SbtError(f"{folder}: MME answers are a folder of <subtask>.txt files")
    index = {(r["category"], r["image"], r["question"]): i for i, r in enumerate(records)}
    sheet = AnswerSheet(folder)
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
            where, label = f"{path.name}:{line_no}", f"{key[1]} {key[2]!r}"
            if key not in index:
                sheet.refuse_unknown(where, label)
            # The eval tool reads the reply as it is, line ending stripped.
            sheet.add(str(index[key]), fields[3], where, label)
    return sheet


@ANSWER_READERS("pope_json")
def read_pope_answers(path: Path, records: Sequence[Record]) -> AnswerSheet:
    """POPE's `{"question", "answer"}` lines in label order, or LLaVA's `{"question_id", "text"}`.

    POPE's lines are matched by position, LLaVA's by question id. LLaVA numbers its merged
    three-split question file differently from POPE's label files, so where a LLaVA line
    carries its `prompt`, the prompt must ask the matched item's question.
    """
    by_id = {str(r["question_id"]): i for i, r in enumerate(records)}
    sheet = AnswerSheet(path)
    for position, (line, item) in enumerate(read_json_lines(path)):
        if "question_id" in item and "text" in item:
            label = f"question_id {item['question_id']}"
            index = by_id.get(str(item["question_id"]))
            if index is None:
                sheet.refuse_unknown(line, label)
            question = records[index]["question"]
            if "prompt" in item and not str(item["prompt"]).strip().startswith(question):
                raise SbtError(
                    f"{path}:{line}: question_id {item['question_id']} asks "
                    f"{str(item['prompt'])[:60]!r}, not {question!r}; split LLaVA's merged "
                    "answers by category first, one file per POPE split"
                )
            sheet.add(str(index), str(item["text"]), line, label)
        elif "answer" in item:
            if position >= len(records):
                sheet.refuse_unknown(line, f"answer {position + 1} (of {len(records)} items)")
            expected = records[position]["question"]
            if item.get("question", expected) != expected:
                raise SbtError(
                    f"{path}:{line}: question differs from the label file's line {position + 1}; "
                    "POPE answer files must follow the label file's order"
                )
            sheet.add(str(position), str(item["answer"]), line, f"line {position + 1}")
        else:
            raise SbtError(f"{path}:{line}: expected {{question, answer}} or {{question_id, text}}")
    return sheet


@ANSWER_READERS("unicorn_json")
def read_unicorn_answers(path: Path, records: Sequence[Record]) -> AnswerSheet:
    """Unicorn answers in any of three shapes.

    - sbt-style objects with image, question and the reply (`prediction`, `answer` or
      `text`), in any order; the k-th answer to an (image, question) pair goes to the k-th
      item asking it (OODCV-VQA repeats 14 pairs as separate, identical items);
    - OODCV's `evaluation.py` dict keyed by image path (it keeps each image's last question);
    - Sketchy's `[{"answer", "label", "image_path"}]` list, in question-file order.
    Image paths may be absolute (the scripts join the data folder); they match by suffix.
    """
    data = _parse_json_document(path)
    if isinstance(data, dict) and not {"image", "question"} <= data.keys():
        return _read_unicorn_by_image(path, data, records)
    items = read_json_lines(path)
    if items and "image_path" in items[0][1]:
        return _read_sketchy_script(path, items, records)
    asking: dict[tuple[Any, Any], list[str]] = {}
    for i, r in enumerate(records):
        asking.setdefault((r["image"], r["question"]), []).append(str(i))
    sheet = AnswerSheet(path)
    for line, item in items:
        reply = next((item[k] for k in ("prediction", "answer", "text") if k in item), None)
        key = (item.get("image"), item.get("question"))
        if reply is None or not isinstance(key[0], str) or not isinstance(key[1], str):
            raise SbtError(f"{path}:{line}: needs image, question and prediction (as text)")
        if key not in asking:
            sheet.refuse_unknown(line, f"image {key[0]!r} with question {key[1]!r}")
        label = f"image {key[0]!r} with question {key[1]!r}"
        # Past the last item asking it, the pair's next answer is a second answer.
        item_id = next((i for i in asking[key] if i not in sheet.answers), asking[key][-1])
        sheet.add(item_id, str(reply), line, label)
    return sheet


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
) -> AnswerSheet:
    """The OODCV script's dict: one prediction per image, for the image's last question."""
    last = {r["image"]: str(i) for i, r in enumerate(records)}
    sheet = AnswerSheet(path)
    for image, entry in data.items():
        if not isinstance(entry, dict) or "prediction" not in entry:
            raise SbtError(f"{path}: entry {image!r} has no prediction")
        match = [rel for rel in last if _same_image(image, rel)]
        if not match:
            raise SbtError(f"{path}: entry {image!r} is no image of this task's question file")
        sheet.add(last[match[0]], str(entry["prediction"]), f"entry {image!r}", repr(image))
    return sheet


def _read_sketchy_script(
    path: Path, items: Sequence[tuple[int, dict[str, Any]]], records: Sequence[Record]
) -> AnswerSheet:
    """Sketchy's script output, paired by position, each line checked against its item."""
    sheet = AnswerSheet(path)
    for position, (line, item) in enumerate(items):
        if position >= len(records):
            sheet.refuse_unknown(line, f"answer {position + 1} (of {len(records)} items)")
        record = records[position]
        if not _same_image(str(item.get("image_path", "")), record["image"]):
            raise SbtError(
                f"{path}:{line}: image {item.get('image_path')!r} is not item {position}'s "
                f"{record['image']!r}; the answers must follow the question file's order"
            )
        if "answer" not in item:
            raise SbtError(f"{path}:{line}: Sketchy script lines need answer and image_path")
        sheet.add(str(position), str(item["answer"]), line, f"line {position + 1}")
    return sheet


def read_coco_results(path: Path, records: Sequence[Record]) -> AnswerSheet:
    """A COCO-format captioning results file: `[{"image_id": ..., "caption": ...}, ...]`."""
    by_id = {str(r["image_id"]): str(i) for i, r in enumerate(records)}
    sheet = AnswerSheet(path)
    for line, item in read_json_lines(path):
        if "image_id" not in item or "caption" not in item:
            raise SbtError(f"{path}:{line}: COCO results need image_id and caption")
        label = f"image_id {item['image_id']}"
        if str(item["image_id"]) not in by_id:
            sheet.refuse_unknown(line, label)
        sheet.add(by_id[str(item["image_id"])], str(item["caption"]), line, label)
    return sheet


ANSWER_READERS.register("coco_karpathy_json", read_coco_results)
ANSWER_READERS.register("flickr30k_karpathy_json", read_coco_results)
