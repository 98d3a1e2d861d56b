"""Readers that parse the benchmarks' raw files into the hub datasets' record fields.

Every reader raises a one-line SbtError naming the file and row for malformed input, so a
bad file never turns into a traceback or a silently shorter task.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sbt_bench.core.errors import SbtError
from sbt_bench.core.files import read_json, read_json_lines, read_text
from sbt_bench.core.registry import Registry

Record = dict[str, Any]
Reader = Callable[[Path], list[Record]]

READERS: Registry[Reader] = Registry("data reader")
READERS.register("mme_eval_tool", "sbt_bench.tasks.vqa_readers:read_mme_eval_tool")
READERS.register("pope_json", "sbt_bench.tasks.vqa_readers:read_pope")
READERS.register("unicorn_json", "sbt_bench.tasks.vqa_readers:read_unicorn")
READERS.register("lrv_gavie_json", "sbt_bench.tasks.gavie:read_gavie")
READERS.register("coco_karpathy_json", "sbt_bench.tasks.caption_readers:read_coco_karpathy")
READERS.register(
    "flickr30k_karpathy_json", "sbt_bench.tasks.caption_readers:read_flickr30k_karpathy"
)


@READERS("json_lines")
def read_records(path: Path) -> list[Record]:
    """A JSON array of objects, or one object per line: the records as they are.

    A new task over a file of this shape needs a YAML file and no Python.
    """
    return [record for _, record in read_json_lines(path)]


@READERS("truthfulqa_mc_json")
def read_truthfulqa_mc(path: Path) -> list[Record]:
    """`mc_task.json` ({answer: label} dicts) -> hub `{choices: [...], labels: [...]}` records."""
    items = read_json(path)
    if not isinstance(items, list):
        raise SbtError(f"{path}: expected a JSON list of questions")
    records = []
    for i, item in enumerate(items):
        try:
            record: Record = {"question": str(item["question"])}
            for key in ("mc1_targets", "mc2_targets"):
                targets = item[key]
                record[key] = {
                    "choices": [str(c) for c in targets],
                    "labels": [int(v) for v in targets.values()],
                }
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise SbtError(
                f"{path}: question {i} is malformed ({type(err).__name__}: {err}); "
                "expected question, mc1_targets and mc2_targets as {answer: 0/1}"
            ) from None
        records.append(record)
    return records


@READERS("truthfulqa_csv")
def read_truthfulqa_csv(path: Path) -> list[Record]:
    """`TruthfulQA.csv` -> hub `generation` records (answers split on ';')."""
    header = (
        "Type",
        "Category",
        "Question",
        "Best Answer",
        "Correct Answers",
        "Incorrect Answers",
        "Source",
    )
    records = []
    for line, row in _read_csv(path, header):
        records.append(
            {
                "type": row[0],
                "category": row[1],
                "question": row[2],
                "best_answer": row[3],
                "correct_answers": _split_answers(row[4]),
                "incorrect_answers": _split_answers(row[5]),
                "source": row[6],
            }
        )
        if not records[-1]["correct_answers"] or not records[-1]["incorrect_answers"]:
            raise SbtError(f"{path}:{line}: a question needs both correct and incorrect answers")
    return records


@READERS("ethics_commonsense_csv")
def read_ethics_commonsense(path: Path) -> list[Record]:
    """`cm_test.csv` (label,input,is_short,edited)."""
    return [
        {
            "label": _label(path, line, row[0]),
            "input": row[1],
            "is_short": row[2] == "True",
            "edited": row[3] == "True",
        }
        for line, row in _read_csv(path, ("label", "input", "is_short", "edited"))
    ]


@READERS("ethics_deontology_csv")
def read_ethics_deontology(path: Path) -> list[Record]:
    """`deontology_test.csv` (label,scenario,excuse)."""
    return [
        {"label": _label(path, line, row[0]), "scenario": row[1], "excuse": row[2]}
        for line, row in _read_csv(path, ("label", "scenario", "excuse"))
    ]


@READERS("ethics_justice_csv")
def read_ethics_justice(path: Path) -> list[Record]:
    """`justice_test.csv` (label,scenario)."""
    return [
        {"label": _label(path, line, row[0]), "scenario": row[1]}
        for line, row in _read_csv(path, ("label", "scenario"))
    ]


@READERS("ethics_virtue_csv")
def read_ethics_virtue(path: Path) -> list[Record]:
    """`virtue_test.csv`: the scenario packs "sentence [SEP] trait"; split as the hub does."""
    records = []
    for line, row in _read_csv(path, ("label", "scenario")):
        sentence, sep, trait = row[1].partition(" [SEP] ")
        if not sep:
            raise SbtError(
                f"{path}:{line}: scenario has no ' [SEP] ' before the trait; fix that row"
            )
        records.append({"label": _label(path, line, row[0]), "scenario": sentence, "trait": trait})
    return records


@READERS("ethics_utilitarianism_csv")
def read_ethics_utilitarianism(path: Path) -> list[Record]:
    """`util_test.csv` has no header; the first column is the more pleasant scenario."""
    return [
        {"activity": row[0], "baseline": row[1]}
        for _, row in _read_csv(path, ("activity", "baseline"), has_header=False)
    ]


def _read_csv(
    path: Path, columns: tuple[str, ...], *, has_header: bool = True
) -> Iterator[tuple[int, list[str]]]:
    """Yield (line number, row) with exactly len(columns) fields, or raise naming the row.

    A byte-order mark is dropped: in a file without a header it would become part of the
    first item's text.
    """
    with io.StringIO(read_text(path, encoding="utf-8-sig"), newline="") as f:
        reader = csv.reader(f)
        if has_header:
            header = next(reader, None)
            if header is None or tuple(h.strip() for h in header) != columns:
                raise SbtError(f"{path}: expected header {','.join(columns)}, found {header}")
        try:
            for row in reader:
                if not row:
                    continue
                if len(row) != len(columns):
                    raise SbtError(
                        f"{path}:{reader.line_num}: expected {len(columns)} columns "
                        f"({','.join(columns)}), found {len(row)}; fix or remove that row"
                    )
                yield reader.line_num, row
        except csv.Error as err:
            raise SbtError(f"{path}:{reader.line_num}: malformed CSV ({err})") from None


def _label(path: Path, line: int, value: str) -> int:
    if value.strip() not in ("0", "1"):
        raise SbtError(f"{path}:{line}: label must be 0 or 1, found {value!r}; fix that row")
    return int(value)


def _split_answers(cell: str) -> list[str]:
    return [a.strip() for a in cell.split(";") if a.strip()]
