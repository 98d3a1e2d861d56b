"""A data dir for vision tests: the real question files (linked, never copied) plus images.

Images are written under the file names the question files reference, for the first items
only: real photos from ../shared/data/sample_images, resized small.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from PIL import Image

from sbt_bench.tasks import TASKS, build_task
from sbt_bench.tasks.source import load_records

QUESTION_FILES = (
    "mme/Your_Results",
    "pope",
    "unicorn/oodcv-vqa/oodcv-vqa.json",
    "unicorn/oodcv-vqa/oodcv-counterfactual.json",
    "unicorn/sketchy-vqa/sketchy-vqa.json",
    "unicorn/sketchy-vqa/sketchy-challenging.json",
    "truthfulqa",
    "coco_karpathy",
    "flickr30k_karpathy",
)


def link_question_files(shared: Path, target: Path) -> Path:
    """`target` laid out like ../shared/data, its question files symlinked from `shared`."""
    for relative in QUESTION_FILES:
        source = shared / relative
        if source.exists():
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            (target / relative).symlink_to(source)
    return target


def write_images(
    data_dir: Path, shared: Path, tasks: list[str], limit: int, size: tuple[int, int] = (48, 40)
) -> list[Path]:
    """Write a small real photo (`size`) at every image path the first `limit` items need."""
    photos = sorted((shared / "sample_images").glob("*.jpg"))
    cycle = itertools.cycle(photos)
    written = []
    for name in tasks:
        spec = TASKS.get(name)
        task = build_task(spec)
        records = load_records(name, spec.dataset, data_dir)[:limit]
        for i, record in enumerate(records):
            for sample in task.build_samples(i, record, data_dir):
                for ref in sample.images:
                    path = Path(ref.split("#")[0])
                    if not path.exists():
                        path.parent.mkdir(parents=True, exist_ok=True)
                        with Image.open(next(cycle)) as photo:
                            photo.convert("RGB").resize(size).save(path)
                        written.append(path)
    return written
