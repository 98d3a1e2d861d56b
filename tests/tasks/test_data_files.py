"""The files a task reads under a data folder: counted, merged across tasks, images included."""

from __future__ import annotations

from pathlib import Path

from sbt_bench.tasks import TASKS
from sbt_bench.tasks.data_files import list_needed_files


def test_check_counts_missing_images_from_the_question_file(tmp_path: Path) -> None:
    """With a question file present, the images it lists are counted and the first missing named."""
    pope = tmp_path / "pope"
    pope.mkdir()
    lines = [
        '{"question_id": 1, "image": "a.jpg", "text": "Is there a cat?", "label": "yes"}',
        '{"question_id": 2, "image": "b.jpg", "text": "Is there a dog?", "label": "no"}',
    ]
    (pope / "coco_pope_random.json").write_text("\n".join(lines) + "\n")
    (tmp_path / "coco" / "val2014").mkdir(parents=True)
    (tmp_path / "coco" / "val2014" / "a.jpg").write_bytes(b"jpg")
    (images,) = [
        f for f in list_needed_files([TASKS.get("pope_random")], tmp_path) if "<image>" in f.path
    ]
    assert (images.missing, images.total) == (1, 2)
    assert images.status() == "1 of 2 missing"
    assert "coco/val2014/b.jpg" in images.note


def test_a_file_two_tasks_read_is_one_row_naming_both(tmp_path: Path) -> None:
    """mc1 and mc2 read one file: it is listed once, with both tasks."""
    specs = [TASKS.get("truthfulqa_mc1"), TASKS.get("truthfulqa_mc2")]
    (needed,) = list_needed_files(specs, tmp_path)
    assert needed.path == "truthfulqa/data/mc_task.json"
    assert needed.tasks == ("truthfulqa_mc1", "truthfulqa_mc2")
    assert needed.status() == "missing"
