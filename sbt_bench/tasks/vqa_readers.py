"""Readers for the yes/no and VQA benchmarks' own files (MME eval tool, POPE, Unicorn).

Records get the field names of the hub copies (lmms-lab/MME, lmms-lab/POPE) where those
exist, so one task definition serves both sources.
"""

from __future__ import annotations

from pathlib import Path

from sbt_bench.core.errors import SbtError
from sbt_bench.core.files import read_json_lines, read_text
from sbt_bench.tasks.aggregators import MME_COGNITION, MME_PERCEPTION
from sbt_bench.tasks.readers import Record

# The eval tool's subtask files, perception first, in the order MME reports them.
MME_SUBTASKS = (*MME_PERCEPTION, *MME_COGNITION)
_MME_FIELDS = 3


def read_mme_eval_tool(folder: Path) -> list[Record]:
    """`Your_Results/<subtask>.txt` (image, question, Yes/No per line) -> hub MME records.

    `question_id` is `<subtask>/<image>`, as on the hub, and pairs an image's two questions.
    """
    if not folder.is_dir():
        raise SbtError(f"{folder}: expected the MME eval tool's Your_Results folder")
    records: list[Record] = []
    for subtask in MME_SUBTASKS:
        path = folder / f"{subtask}.txt"
        if not path.is_file():
            raise SbtError(f"{path}: MME subtask file missing; the folder needs all 14 subtasks")
        for line_no, line in enumerate(read_text(path).splitlines(), 1):
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) < _MME_FIELDS or fields[2].strip() not in ("Yes", "No"):
                raise SbtError(
                    f"{path}:{line_no}: expected 'image<TAB>question<TAB>Yes|No'; fix that line"
                )
            image, question, answer = (f.strip() for f in fields[:_MME_FIELDS])
            records.append(
                {
                    "question_id": f"{subtask}/{image}",
                    "image": image,
                    "question": question,
                    "answer": answer,
                    "category": subtask,
                }
            )
    return records


def read_pope(path: Path) -> list[Record]:
    """POPE's label file (JSON lines, or one JSON array) -> hub POPE records."""
    records = []
    needed = ("question_id", "image", "text", "label")
    for line, item in read_json_lines(path):
        absent = [key for key in needed if key not in item]
        if absent:
            raise SbtError(f"{path}:{line}: missing {absent}; POPE rows need {list(needed)}")
        records.append(
            {
                "question_id": str(item["question_id"]),
                "image": str(item["image"]),
                "question": str(item["text"]),
                "answer": str(item["label"]).strip().lower(),
            }
        )
    return records


def read_unicorn(path: Path) -> list[Record]:
    """A Unicorn question file (JSON array of objects with at least image and question)."""
    records = []
    for line, item in read_json_lines(path):
        if "image" not in item or "question" not in item:
            raise SbtError(f"{path}: item {line} lacks image or question; is this a Unicorn file?")
        records.append(dict(item))
    return records
