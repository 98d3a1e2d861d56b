"""Property-based fuzzing of every data and answers-file reader.

Each reader gets damaged versions of a well-formed file (cut short, re-encoded, a BOM, a
column more or less, empty, a very long line, random bytes) and must either parse or raise
a one-line SbtError naming the file; any other exception is a bug.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sbt_bench.core.errors import SbtError
from sbt_bench.rescoring.score import (
    read_coco_results,
    read_mme_answers,
    read_pope_answers,
    read_sbt_samples,
    read_unicorn_answers,
)
from sbt_bench.tasks.caption_readers import read_coco_karpathy, read_flickr30k_karpathy
from sbt_bench.tasks.gavie import read_gavie
from sbt_bench.tasks.readers import (
    read_ethics_commonsense,
    read_ethics_deontology,
    read_ethics_justice,
    read_ethics_utilitarianism,
    read_ethics_virtue,
    read_truthfulqa_csv,
    read_truthfulqa_mc,
)
from sbt_bench.tasks.vqa_readers import read_mme_eval_tool, read_pope, read_unicorn

FUZZ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

POPE_LINE = {"question_id": 1, "image": "a.jpg", "text": "Is there a cat?", "label": "yes"}
RECORDS: list[dict[str, Any]] = [
    {"question_id": "1", "image": "a.jpg", "question": "Is there a cat?", "category": "count",
     "image_id": 7},
]  # fmt: skip

# Reader, file name, a well-formed file.
FILE_READERS: list[tuple[Callable[[Path], Any], str, str]] = [
    (read_ethics_commonsense, "cm.csv", "label,input,is_short,edited\n1,I lied.,True,False\n"),
    (read_ethics_deontology, "d.csv", "label,scenario,excuse\n0,I am a nurse.,I rest.\n"),
    (read_ethics_justice, "j.csv", 'label,scenario\n1,"I paid, so I ate."\n'),
    (read_ethics_virtue, "v.csv", "label,scenario\n1,She gave. [SEP] generous\n"),
    (read_ethics_utilitarianism, "u.csv", "I won.,I lost.\n"),
    (
        read_truthfulqa_csv,
        "t.csv",
        (
            "Type,Category,Question,Best Answer,Correct Answers,Incorrect Answers,Source\n"
            "A,Misc,Why?,Because.,Because; So,No; Never,http://x\n"
        ),
    ),
    (
        read_truthfulqa_mc,
        "mc.json",
        json.dumps([{"question": "Q?", "mc1_targets": {"a": 1, "b": 0}, "mc2_targets": {"a": 1}}]),
    ),
    (read_pope, "p.json", json.dumps(POPE_LINE) + "\n"),
    (read_unicorn, "u.json", json.dumps([{"image": "a.jpg", "question": "How many?"}])),
    (read_coco_karpathy, "c.json", json.dumps([{"image": "v/COCO_1.jpg", "caption": ["A."]}])),
    (read_flickr30k_karpathy, "f.json", json.dumps([{"image_name": "1.jpg", "captions": ["A."]}])),
]

# Answer readers take the task's records too.
ANSWER_READERS: list[tuple[Callable[[Path, Any], Any], str, str]] = [
    (read_pope_answers, "a.jsonl", '{"question_id": 1, "text": "Yes"}\n'),
    (read_pope_answers, "b.jsonl", '{"question": "Is there a cat?", "answer": "no"}\n'),
    (read_unicorn_answers, "u.json", ('[{"image": "a.jpg", "question": "Is there a cat?", '
                                      '"prediction": "2"}]')),
    (read_unicorn_answers, "s.json", '[{"image_path": "/d/a.jpg", "answer": "yes"}]'),
    (read_unicorn_answers, "o.json", '{"/d/a.jpg": {"prediction": "2"}}'),
    (read_coco_results, "r.json", '[{"image_id": 7, "caption": "A cat."}]'),
    (read_sbt_samples, "samples_x.jsonl", '{"id": "0", "generation": "yes"}\n'),
]  # fmt: skip


@st.composite
def damaged(draw: st.DrawFn, text: str) -> bytes:  # noqa: PLR0911 - one return per damage
    """`text` as bytes after one kind of damage (or none)."""
    raw = text.encode("utf-8")
    kind = draw(st.sampled_from(["cut", "encoding", "bom", "column", "empty", "long", "bytes"]))
    if kind == "cut":
        return raw[: draw(st.integers(0, len(raw)))]
    if kind == "encoding":
        return text.encode(draw(st.sampled_from(["utf-16", "latin-1", "cp1252"])), "replace") + (
            b"\xe9\xff" if draw(st.booleans()) else b""
        )
    if kind == "bom":
        return b"\xef\xbb\xbf" + raw
    if kind == "column":
        lines = text.splitlines()
        extra = draw(st.sampled_from([",x", "", ',"y"', "\t1"]))
        where = draw(st.integers(0, max(0, len(lines) - 1)))
        cut = draw(st.booleans())
        line = lines[where] if lines else ""
        lines[where : where + 1] = [line.rsplit(",", 1)[0] if cut else line + extra]
        return "\n".join(lines).encode("utf-8")
    if kind == "empty":
        return draw(st.sampled_from([b"", b"\n", b"   \n\n", b"[]", b"{}", b"null"]))
    if kind == "long":
        return raw + b"1," + b"x" * draw(st.integers(10_000, 200_000)) + b"\n"
    return draw(st.binary(max_size=200))


def assert_one_line_or_parse(call: Callable[[], Any], path: Path) -> None:
    """The call returns, or raises a one-line SbtError that names `path`."""
    try:
        call()
    except SbtError as err:
        message = str(err)
        assert "\n" not in message, message
        assert str(path.name) in message or str(path.parent) in message, message


@pytest.mark.parametrize(
    ("reader", "name", "good"), FILE_READERS, ids=[r[0].__name__ for r in FILE_READERS]
)
@FUZZ
@given(data=st.data())
def test_data_reader_parses_or_names_the_file(
    reader: Callable[[Path], Any], name: str, good: str, data: st.DataObject, tmp_path: Path
) -> None:
    """A damaged data file parses or gives a one-line error naming it, never a traceback."""
    path = tmp_path / name
    path.write_bytes(data.draw(damaged(good)))
    assert_one_line_or_parse(lambda: reader(path), path)


@pytest.mark.parametrize(
    ("reader", "name", "good"), ANSWER_READERS, ids=[r[1] for r in ANSWER_READERS]
)
@FUZZ
@given(data=st.data())
def test_answer_reader_parses_or_names_the_file(
    reader: Callable[[Path, Any], Any], name: str, good: str, data: st.DataObject, tmp_path: Path
) -> None:
    """A damaged answers file parses or gives a one-line error naming it, never a traceback."""
    path = tmp_path / name
    path.write_bytes(data.draw(damaged(good)))
    assert_one_line_or_parse(lambda: reader(path, RECORDS), path)


@FUZZ
@given(data=st.data())
def test_mme_folders_parse_or_name_the_file(data: st.DataObject, tmp_path: Path) -> None:
    """A damaged MME subtask file (questions or answers) parses or names the file."""
    from sbt_bench.tasks.vqa_readers import MME_SUBTASKS

    folder = tmp_path / "Your_Results"
    folder.mkdir(exist_ok=True)
    for subtask in MME_SUBTASKS:
        (folder / f"{subtask}.txt").write_text("a.jpg\tIs there a cat?\tYes\n", encoding="utf-8")
    damaged_file = folder / f"{data.draw(st.sampled_from(MME_SUBTASKS))}.txt"
    damaged_file.write_bytes(data.draw(damaged("a.jpg\tIs there a cat?\tYes\tYes\n")))
    assert_one_line_or_parse(lambda: read_mme_eval_tool(folder), damaged_file)
    assert_one_line_or_parse(lambda: read_mme_answers(folder, RECORDS), damaged_file)


@FUZZ
@given(data=st.data())
def test_gavie_reader_parses_or_names_the_file(data: st.DataObject, tmp_path: Path) -> None:
    """A damaged GAVIE instruction or region file parses or names the file."""
    files = {
        "evaluation_set.json": json.dumps([{"image_id": 1, "question": "Describe it."}]),
        "vg_annotation.json": json.dumps({"1": [{"caption": "a cat", "bbox": [1, 2, 3, 4]}]}),
    }
    target = data.draw(st.sampled_from(sorted(files)))
    for name, text in files.items():
        content = data.draw(damaged(text)) if name == target else text.encode()
        (tmp_path / name).write_bytes(content)
    assert_one_line_or_parse(
        lambda: read_gavie(tmp_path / "evaluation_set.json"), tmp_path / target
    )
