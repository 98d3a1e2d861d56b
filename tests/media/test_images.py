"""Image references, hub images written to the cache, and lazy loading errors."""

from __future__ import annotations

from pathlib import Path

import datasets
import pytest
from PIL import Image

from sbt_bench.core.errors import SbtError
from sbt_bench.media.images import ImageRef, load_image, parse_image_ref
from sbt_bench.tasks.source import with_image_files


def test_image_refs_round_trip() -> None:
    """A corrupted variant's reference parses back to its path, corruption and severity."""
    ref = ImageRef(Path("/data/coco/val2014/a#b.jpg"), "fog", 3)
    assert parse_image_ref(str(ref)) == ref
    assert parse_image_ref("/data/x.jpg") == ImageRef(Path("/data/x.jpg"))


def test_hub_images_become_cached_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data_dir: Path
) -> None:
    """An Image column is written to $SBT_CACHE_DIR once per distinct image, as a path."""
    monkeypatch.setenv("SBT_CACHE_DIR", str(tmp_path / "cache"))
    photo = data_dir / "sample_images" / "chelsea.png"
    embedded = {"bytes": photo.read_bytes(), "path": None}
    features = datasets.Features({"image": datasets.Image(), "question": datasets.Value("string")})
    table = datasets.Dataset.from_dict(
        {"image": [embedded, embedded], "question": ["a", "b"]}, features=features
    )
    records = with_image_files("demo", table)
    assert [r["question"] for r in records] == ["a", "b"]
    paths = {r["image"] for r in records}
    assert len(paths) == 1
    assert next(iter(paths)).startswith(str(tmp_path / "cache"))
    with Image.open(next(iter(paths))) as saved, Image.open(photo) as original:
        assert saved.size == original.size


def test_unreadable_image_is_one_line_naming_the_file(tmp_path: Path) -> None:
    """A corrupt image file raises SbtError naming the file, not a PIL traceback."""
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    with pytest.raises(SbtError, match=r"broken\.jpg"):
        load_image(str(broken))
    with pytest.raises(SbtError, match="not found"):
        load_image(str(tmp_path / "absent.jpg"))
