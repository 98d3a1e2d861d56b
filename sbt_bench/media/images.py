"""Image references: where an item's image lives, and loading it lazily when a backend needs it.

A reference is a string (so requests stay hashable and cacheable): an absolute file path,
optionally followed by `#<corruption>@<severity>` for a corrupted variant that is made on
first use and cached on disk.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sbt_bench.core.errors import SbtError, missing_image
from sbt_bench.core.files import write_atomic

if TYPE_CHECKING:
    from PIL import Image

CACHE_ENV = "SBT_CACHE_DIR"
CACHE_FIX = f"set {CACHE_ENV} to a writable folder (the cache of derived images and models)"


@dataclass(frozen=True)
class ImageRef:
    """A source image file, and the corruption (if any) applied to it."""

    path: Path
    corruption: str | None = None
    severity: int = 0

    def __str__(self) -> str:
        suffix = f"#{self.corruption}@{self.severity}" if self.corruption else ""
        return f"{self.path}{suffix}"


def parse_image_ref(text: str) -> ImageRef:
    """The inverse of `str(ImageRef)`."""
    path, sep, variant = text.rpartition("#")
    if not sep or "@" not in variant:
        return ImageRef(Path(text))
    corruption, _, severity = variant.partition("@")
    return ImageRef(Path(path), corruption, int(severity))


def cache_dir() -> Path:
    """Where derived images (hub copies, corrupted variants) go: $SBT_CACHE_DIR or ~/.cache."""
    root = os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "sbt-bench"
    return Path(root)


def save_embedded_image(value: Any, task: str, index: int) -> Path:
    """Write an image held in a hub record (PIL image or `{"bytes": ...}`) to the cache once."""
    data = value.get("bytes") if isinstance(value, Mapping) else None
    source = value.get("path") if isinstance(value, Mapping) else None
    if data is None and source and Path(source).is_file():
        return Path(source)  # already a file (a datasets cache holding extracted images)
    if data is None:
        if not hasattr(value, "save"):
            raise SbtError(f"{task}: item {index} has an image field of type {type(value)}")
        buffer = io.BytesIO()
        value.convert("RGB").save(buffer, format="PNG")
        data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()[:32]
    # Keep the bytes' own format in the name: an API backend labels the upload by it.
    suffix = ".jpg" if data[:3] == b"\xff\xd8\xff" else ".png"
    path = cache_dir() / "hub_images" / task / f"{digest}{suffix}"
    if not path.is_file():
        write_atomic(path, data, fix=CACHE_FIX)
    return path


def image_file(ref: str) -> Path:
    """The file holding the image behind a reference (a corrupted variant is made first)."""
    parsed = parse_image_ref(ref)
    if parsed.corruption is None:
        return parsed.path
    from sbt_bench.media.corruptions import corrupted_file  # noqa: PLC0415 - needs the vision extra

    return corrupted_file(
        parsed.path, parsed.corruption, parsed.severity, cache_dir() / "corrupted"
    )


def load_image(ref: str) -> Image.Image:
    """The RGB image behind a reference, corrupting (and caching) it on first use."""
    from PIL import Image, UnidentifiedImageError  # noqa: PLC0415 - vision extra

    path = image_file(ref)
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except FileNotFoundError:
        raise missing_image(path) from None
    except (UnidentifiedImageError, OSError) as err:
        raise SbtError(f"image {path} cannot be read ({err}); replace the file") from None
