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
from dataclasses import dataclass
from typing import Any

from sbt_bench.backends.base import ModelSpec
from sbt_bench.errors import SbtError
from sbt_bench.images import load_image, parse_image_ref
from sbt_bench.types import Request

_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP", "image/gif": "GIF"}


@dataclass(frozen=True)
class EncodedImage:
    """One image as sent: its data URL, and its size before and after any resizing."""

    url: str
    original_size: tuple[int, int]
    sent_size: tuple[int, int]

    @property
    def resized(self) -> bool:
        """Whether the image was downsized to the spec's `image_max_size`."""
        return self.original_size != self.sent_size


def encode_image(ref: str, max_size: int | None) -> EncodedImage:
    """A data URL of the image behind `ref`, resized only when larger than `max_size`."""
    from PIL import Image  # noqa: PLC0415 - vision extra

    parsed = parse_image_ref(ref)
    mime = mimetypes.guess_type(parsed.path.name)[0] or "image/png"
    if parsed.corruption is None and mime in _FORMATS:
        try:
            data = parsed.path.read_bytes()
        except OSError as err:
            raise SbtError(f"image {parsed.path} cannot be read ({err.strerror})") from None
        try:
            with Image.open(io.BytesIO(data)) as probe:
                size = probe.size
        except OSError as err:  # PIL's UnidentifiedImageError is an OSError
            raise SbtError(f"image {parsed.path} cannot be read ({err}); replace it") from None
        if max_size is None or max(size) <= max_size:
            return EncodedImage(_data_url(mime, data), size, size)
    image = load_image(ref)
    size = image.size
    if max_size is not None and max(size) > max_size:
        scale = max_size / max(size)
        new = (max(1, round(size[0] * scale)), max(1, round(size[1] * scale)))
        image = image.resize(new, Image.Resampling.LANCZOS)
    if parsed.corruption is not None or mime not in _FORMATS:
        mime = "image/png"
    buffer = io.BytesIO()
    image.save(buffer, format=_FORMATS[mime], **({"quality": 95} if mime == "image/jpeg" else {}))
    return EncodedImage(_data_url(mime, buffer.getvalue()), size, image.size)


def chat_content(request: Request, spec: ModelSpec) -> str | list[dict[str, Any]]:
    """The user message of a chat request: text alone, or text then its images."""
    if not request.images:
        return request.context
    parts: list[dict[str, Any]] = [{"type": "text", "text": request.context}]
    for ref in request.images:
        image = encode_image(ref, spec.image_max_size)
        url = {"url": image.url, "detail": spec.image_detail}
        parts.append({"type": "image_url", "image_url": url})
    return parts


def image_entry(requests: Iterable[Request], spec: ModelSpec) -> dict[str, Any]:
    """How a task's images were sent, for results.json ({} when it has none)."""
    refs = sorted({ref for request in requests for ref in request.images})
    if not refs or not spec.backend.startswith("openai"):
        return {}
    resized = 0
    if spec.image_max_size is not None:
        resized = sum(max(_size(ref)) > spec.image_max_size for ref in refs)
    return {
        "images": {
            "sent": len(refs),
            "detail": spec.image_detail,
            "max_size": spec.image_max_size,
            "resized": resized,
        }
    }


def _size(ref: str) -> tuple[int, int]:
    from PIL import Image  # noqa: PLC0415 - vision extra

    path = parse_image_ref(ref).path
    try:
        with Image.open(path) as image:  # corruptions keep the size
            return image.size
    except OSError as err:
        raise SbtError(f"image {path} cannot be read ({err}); replace the file") from None


def _data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
