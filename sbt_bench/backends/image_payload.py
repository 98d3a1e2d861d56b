"""Images for chat APIs: base64 data URLs, never silently downsized.

An image goes out as its original file bytes unless the model spec sets `image_max_size`
(longest side, in pixels): then larger images are resized to it, and results count them.
Corrupted variants (`path#corruption@severity`) are rendered and sent as PNG.
The `detail` setting (low/high/auto) is the spec's, sent with every image.
"""

from __future__ import annotations

import base64
import io
import mimetypes
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from sbt_bench.core.errors import SbtError, missing_image
from sbt_bench.core.types import ModelSpec, Request
from sbt_bench.media.images import image_file, parse_image_ref

_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP", "image/gif": "GIF"}


@lru_cache(maxsize=64)
def image_url(ref: str, max_size: int | None) -> str:
    """A data URL of the image behind `ref`, resized only when larger than `max_size`.

    Cached: POPE and MME ask several questions about one image, and retries resend it.
    """
    from PIL import Image  # noqa: PLC0415 - vision extra

    path = image_file(ref)  # a corrupted variant is a PNG file in the cache
    mime = mimetypes.guess_type(path.name)[0] or "image/png"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise missing_image(path) from None
    size = _image_size(io.BytesIO(data), path)
    if mime in _FORMATS and (max_size is None or max(size) <= max_size):
        return _data_url(mime, data)  # the original bytes, untouched
    with Image.open(io.BytesIO(data)) as opened:
        image = opened.convert("RGB")
    if max_size is not None and max(size) > max_size:
        scale = max_size / max(size)
        new = (max(1, round(size[0] * scale)), max(1, round(size[1] * scale)))
        image = image.resize(new, Image.Resampling.LANCZOS)
    if mime not in _FORMATS:
        mime = "image/png"
    buffer = io.BytesIO()
    image.save(buffer, format=_FORMATS[mime], **({"quality": 95} if mime == "image/jpeg" else {}))
    return _data_url(mime, buffer.getvalue())


def _image_size(source: Path | io.BytesIO, path: Path) -> tuple[int, int]:
    """Width and height from the image header, or a one-line error naming the file."""
    from PIL import Image  # noqa: PLC0415 - vision extra

    try:
        with Image.open(source) as image:
            return tuple(image.size)  # type: ignore[return-value]
    except OSError as err:  # PIL's UnidentifiedImageError is an OSError
        raise SbtError(f"image {path} cannot be read ({err}); replace it") from None


def chat_content(request: Request, spec: ModelSpec) -> str | list[dict[str, Any]]:
    """The user message of a chat request: text alone, or text then its images."""
    if not request.images:
        return request.context
    parts: list[dict[str, Any]] = [{"type": "text", "text": request.context}]
    for ref in request.images:
        url = {"url": image_url(ref, spec.image_max_size), "detail": spec.image_detail}
        parts.append({"type": "image_url", "image_url": url})
    return parts


@dataclass(frozen=True)
class ImagesSent:
    """How a task's images went to a chat API: how many, at what detail, how many resized."""

    sent: int
    detail: str
    max_size: int | None
    resized: int


def images_sent(requests: Iterable[Request], spec: ModelSpec) -> ImagesSent | None:
    """How a task's images were sent, for results.json (None when it sent none to an API)."""
    refs = sorted({ref for request in requests for ref in request.images})
    if not refs or not spec.backend.startswith("openai"):
        return None
    resized = 0
    if spec.image_max_size is not None:
        # Corrupted variants keep their source's size: each source file is measured once.
        sources = [parse_image_ref(ref).path for ref in refs]
        sizes = {path: _image_size(path, path) for path in set(sources)}
        resized = sum(max(sizes[path]) > spec.image_max_size for path in sources)
    return ImagesSent(len(refs), spec.image_detail, spec.image_max_size, resized)


def image_entry(requests: Iterable[Request], spec: ModelSpec) -> dict[str, Any]:
    """`images_sent` as the results.json key it is written under ({} when none)."""
    sent = images_sent(requests, spec)
    return {} if sent is None else {"images": asdict(sent)}


def _data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
