"""`sbt-bench score`: score answers produced elsewhere, in each benchmark's own answer format.

Answers are matched to the task's items (by question id, by image and question, or by
position where the format has no ids); an item without an answer is an error, never a
silently smaller denominator, and so is an answer for no item or a second answer for one.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sbt_bench.core.errors import SbtError
from sbt_bench.core.files import read_json_lines, read_text
from sbt_bench.core.registry import Registry
from sbt_bench.core.types import Response
from sbt_bench.evaluation.prompting import task_hash
from sbt_bench.evaluation.runner import RunConfig, TaskPlan, plan_task, score_task
from sbt_bench.rescoring.answer_sheet import AnswerSheet, reply_text
from sbt_bench.rescoring.recorded_run import (
    RecordedRun,
    check_recorded_hash,
    is_samples_file,
    read_recorded_run,
    read_sbt_choices,
    read_sbt_letters,
    read_sbt_samples,
    recorded_data_dir,
)
from sbt_bench.results.folder import commit_results, start_results
from sbt_bench.results.group_means import aggregate_groups, known_groups
from sbt_bench.results.schema import ModelIdentity, RecordedConfig, RunResults
from sbt_bench.tasks import build_task
from sbt_bench.tasks.base import Task, is_judged
from sbt_bench.tasks.letters import LetterChoiceTask
from sbt_bench.tasks.readers import Record
from sbt_bench.tasks.source import resolve_data_dir

# (answers file or folder, all the task's records) -> answer text per sample id (the
# record's index, or "<index>/<corruption>@<severity>" for an image variant).
AnswerReader = Callable[[Path, Sequence[Record]], AnswerSheet]

# Keyed by the task's data reader, since the answer format follows the benchmark's files.
ANSWER_READERS: Registry[AnswerReader] = Registry("answer format")


@dataclass(frozen=True)
class ScoreTarget:
    """Where `score` writes and under which identity (`--name`, `--overwrite`)."""

    output_dir: Path
    name: str | None = None
    overwrite: bool = False


def score_predictions(
    task_name: str, predictions: Path, cfg: RunConfig, target: ScoreTarget | None = None
) -> tuple[Path, RunResults]:
    """Score one task from recorded answers and write results like `run` does.

    A predict-only samples file brings its run's data folder, limit and prompt settings
    (flags given here win) and its model's name; the results folder is named after that
    model, or `--name`, so two answer files never share a folder by their file name.

    Returns:
        The results folder written and the merged results document.
    """
    target = target or ScoreTarget(cfg.output_dir)
    if not predictions.exists():
        raise SbtError(f"predictions {predictions} do not exist; check the --predictions path")
    recorded = read_recorded_run(predictions, task_name) if is_samples_file(predictions) else None
    entry = recorded.entry if recorded is not None else None
    if entry is not None and entry.predict_only and entry.shuffle_seed is not None:
        # A letters-protocol answers file: read with the option order its run showed.
        cfg = replace(cfg, seed=entry.shuffle_seed)
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
    if recorded is not None:
        cfg = replace(
            cfg,
            data_dir=cfg.data_dir or recorded_data_dir(recorded),
            limit=cfg.limit if cfg.limit is not None else recorded.entry.limit,
        )
    cfg = replace(cfg, data_dir=cfg.data_dir or resolve_data_dir(None))
    # Answers are matched against every item, so an answer beyond --limit is not "unknown".
    full = plan_task(task, replace(cfg, limit=None), check_images=False)
    plan = full if cfg.limit is None else plan_task(task, cfg, check_images=False)
    if recorded is not None:
        # A `run --predict-only` file: its run's prompt settings go with its numbers.
        plan = replace(plan, prompt=recorded.entry.prompt or plan.prompt)
        check_recorded_hash(predictions, task_name, recorded, task_hash(task.spec, plan.prompt))
    answers = _read_answers(task, predictions, full)
    unanswered = [s.id for s in plan.samples if s.id not in answers]
    if unanswered:
        raise SbtError(
            f"{predictions}: {len(unanswered)} of {len(plan.samples)} {task_name} items have "
            f"no answer (first: item {unanswered[0]}); pass --limit or complete the answers file"
        )
    responses = [r for s in plan.samples for r in answers[s.id]]
    finished = score_task(plan, responses, cfg)
    model = _predictions_model(predictions, recorded, target.name)
    # One folder per source model: scoring the three POPE splits from LLaVA's one file
    # fills one results.json, so the group's mean F1 appears as for a run.
    folder = target.output_dir / folder_name(model.name, named=target.name is not None)
    data_dir = str(cfg.data_dir or "hub")
    config = RecordedConfig(limit=cfg.limit, parser=cfg.parser, data_dir=data_dir)
    results = start_results(folder, model, config, overwrite=target.overwrite)
    source = str(predictions.resolve())
    _refuse_other_answers(folder, results, task_name, source, overwrite=target.overwrite)
    commit = finished.to_commit(task_name)
    # Each task records the file its answers came from (a --name may gather several).
    commit = replace(commit, result=commit.result.model_copy(update={"predictions": source}))
    groups = known_groups(cfg.catalog.groups)
    doc = commit_results(
        folder,
        results,
        {task_name: commit},
        lambda tasks: aggregate_groups(tasks, groups),
        overwrite=target.overwrite,
    )
    return folder, doc


def _read_answers(task: Task, predictions: Path, full: TaskPlan) -> dict[str, tuple[Response, ...]]:
    """Each item's recorded responses, matched by id (never by position where ids exist)."""
    ids = {s.id for s in full.samples}
    if is_samples_file(predictions) and isinstance(task, LetterChoiceTask):
        return read_sbt_letters(predictions, ids)
    if is_samples_file(predictions) and task.spec.kind == "multiple_choice":
        n_choices = {s.id: len(s.choices) for s in full.samples}
        return read_sbt_choices(predictions, ids, n_choices)
    reader = (
        read_sbt_samples
        if is_samples_file(predictions)
        else ANSWER_READERS.get(task.spec.dataset.reader)
    )
    sheet = reader(predictions, full.records)
    sheet.check_known(ids)
    return {k: (Response(text=v),) for k, v in sheet.answers.items()}


def _refuse_other_answers(
    folder: Path, results: RunResults, task: str, source: str, *, overwrite: bool
) -> None:
    """A task already scored in the folder from another answers file is not replaced silently."""
    entry = results.tasks.get(task)
    old = getattr(entry, "predictions", None) if entry is not None else None
    if old is not None and old != source and not overwrite:
        raise SbtError(
            f"{folder / 'results.json'}: field 'tasks.{task}' holds the scores of {old}, not "
            f"{source}; pass --overwrite to replace them, or give another --name"
        )


def folder_name(name: str, *, named: bool) -> str:
    """A file-system-safe results folder for `name` (prefixed unless the user named it)."""
    plain = name.removeprefix("predictions:").strip("/")
    slug = re.sub(r"[^A-Za-z0-9._-]+", "__", plain).strip("_")[-120:] or "answers"
    return slug if named else f"predictions__{slug}"


def _predictions_model(
    predictions: Path, recorded: RecordedRun | None, name: str | None
) -> ModelIdentity:
    """The results' model record: `--name`, the predicting model's identity, or the file's.

    An answer file from elsewhere is identified by its full path, so a second file with
    the same name in another folder is another identity (refused without --overwrite);
    under one `--name` several answer files (MME's, POPE's) fill one folder, and each task
    records the file it was scored from.
    """
    source = str(predictions.resolve())
    if name is not None:  # the user gathers answer files under one name
        base, fingerprint = name, hashlib.sha256(f"name:{name}".encode()).hexdigest()[:16]
    elif recorded is not None:
        base = recorded.model.name
        fingerprint = recorded.model.fingerprint or source
    else:
        base = f"{predictions.resolve().parent.name}/{predictions.stem}"
        fingerprint = hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]
    # A row of its own in a leaderboard, told apart from the model's own run.
    return ModelIdentity.model_validate(
        {
            "name": name or f"predictions:{base}",
            "backend": "predictions",
            "fingerprint": fingerprint,
            "predictions": source,  # an extra key: which file the numbers came from
        }
    )


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
            sheet.add(str(index), reply_text(item["text"], f"{path}:{line}"), line, label)
        elif "answer" in item:
            if position >= len(records):
                sheet.refuse_unknown(line, f"answer {position + 1} (of {len(records)} items)")
            expected = records[position]["question"]
            if "question" not in item:
                raise SbtError(
                    f"{path}:{line}: POPE answer lines need their question, so each is checked "
                    "against the label file's line; add it, or give LLaVA's question_id lines"
                )
            if item["question"] != expected:
                raise SbtError(
                    f"{path}:{line}: question differs from the label file's line {position + 1}; "
                    "POPE answer files must follow the label file's order"
                )
            reply = reply_text(item["answer"], f"{path}:{line}")
            sheet.add(str(position), reply, line, f"line {position + 1}")
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
        field = next((k for k in ("prediction", "answer", "text") if k in item), None)
        key = (item.get("image"), item.get("question"))
        if field is None or not isinstance(key[0], str) or not isinstance(key[1], str):
            raise SbtError(f"{path}:{line}: needs image, question and prediction (as text)")
        if key not in asking:
            sheet.refuse_unknown(line, f"image {key[0]!r} with question {key[1]!r}")
        label = f"image {key[0]!r} with question {key[1]!r}"
        # Past the last item asking it, the pair's next answer is a second answer.
        item_id = next((i for i in asking[key] if i not in sheet.answers), asking[key][-1])
        sheet.add(item_id, reply_text(item[field], f"{path}:{line}"), line, label)
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
        reply = reply_text(entry["prediction"], f"{path}: entry {image!r}")
        sheet.add(last[match[0]], reply, f"entry {image!r}", repr(image))
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
        reply = reply_text(item["answer"], f"{path}:{line}")
        sheet.add(str(position), reply, line, f"line {position + 1}")
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
        caption = reply_text(item["caption"], f"{path}:{line}")
        sheet.add(by_id[str(item["image_id"])], caption, line, label)
    return sheet


ANSWER_READERS.register("coco_karpathy_json", read_coco_results)
ANSWER_READERS.register("flickr30k_karpathy_json", read_coco_results)
