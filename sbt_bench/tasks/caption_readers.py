"""Readers of the Karpathy-split caption files (COCO and Flickr30k test), named in READERS.

Both give the same record fields, so the caption tasks share one YAML shape:
`image` (path relative to the task's image folder), `captions` (raw reference captions,
stripped) and `image_id` (COCO's numeric id, or the Flickr30k file stem).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sbt_bench.core.errors import SbtError
from sbt_bench.core.files import read_json
from sbt_bench.tasks.readers import Record

_COCO_ID = re.compile(r"_(\d+)\.\w+$")


def read_coco_karpathy(path: Path) -> list[Record]:
    """`coco_test.json`, BLIP's layout: `{"image": "val2014/<name>.jpg", "caption": [...]}`.

    The image id comes from the file name (`COCO_val2014_<id>.jpg`), as in COCO's own files.
    """
    records = []
    for i, item in enumerate(_read_list(path)):
        image = _text(item, "image", path, i)
        match = _COCO_ID.search(image)
        if match is None:
            raise SbtError(
                f"{path}: item {i} image {image!r} does not end in _<COCO id>.jpg; fix that item"
            )
        captions = _captions(item, "caption", path, i)
        records.append({"image": image, "captions": captions, "image_id": int(match.group(1))})
    return records


def read_flickr30k_karpathy(path: Path) -> list[Record]:
    """`flickr30k_test.json` (`{"split": "test", "image_name": "<id>.jpg", "captions": [...]}`)."""
    records = []
    for i, item in enumerate(_read_list(path)):
        image = _text(item, "image_name", path, i)
        captions = _captions(item, "captions", path, i)
        records.append({"image": image, "captions": captions, "image_id": Path(image).stem})
    return records


def _read_list(path: Path) -> list[Any]:
    items = read_json(path)
    if not isinstance(items, list) or not items:
        raise SbtError(f"{path}: expected a non-empty JSON list of images with captions")
    return items


def _text(item: Any, key: str, path: Path, index: int) -> str:
    value = item.get(key) if isinstance(item, dict) else None
    if not isinstance(value, str) or not value.strip():
        raise SbtError(f"{path}: item {index} has no {key!r} file name; fix or remove that item")
    return value.strip()


def _captions(item: dict[str, Any], key: str, path: Path, index: int) -> list[str]:
    value = item.get(key)
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise SbtError(f"{path}: item {index} needs {key!r} as a list of caption strings")
    captions = [c.strip() for c in value if c.strip()]
    if not captions:
        raise SbtError(f"{path}: item {index} has no non-empty caption; fix or remove that item")
    return captions
