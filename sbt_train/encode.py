"""Tokenise rendered segments and build labels from token offsets.

A token is supervised when its character span overlaps a supervised segment. Labels therefore
never depend on token counts of separately tokenised pieces (LLaVA's length arithmetic) nor on
`labels == pad_id` (which hides every `</s>` when pad is eos); image-token positions are forced
to IGNORE_INDEX by id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sbt_train.templates import IMAGE_PLACEHOLDER, Segment

IGNORE_INDEX = -100


class SampleError(ValueError):
    """A sample that cannot be trained on (reported with its id, never silently zero-loss)."""


@dataclass(frozen=True, slots=True)
class Encoded:
    """Token ids and labels of one sample; `n_images` image blocks are inside `input_ids`."""

    input_ids: tuple[int, ...]
    labels: tuple[int, ...]
    n_images: int = 0
    truncated: bool = False
    """Tokens past `max_length` were cut: part of an answer (or its end token) is lost."""

    @property
    def n_supervised(self) -> int:
        """How many positions carry a loss."""
        return sum(label != IGNORE_INDEX for label in self.labels)


@dataclass(frozen=True, slots=True)
class ImageTokens:
    """How one `<image>` placeholder expands: `count` copies of the `token` string."""

    token: str
    token_id: int
    count: int


def encode(
    segments: tuple[Segment, ...],
    tokenizer: Any,
    *,
    max_length: int,
    image: ImageTokens | None = None,
) -> Encoded:
    """Tokenise `segments` (with BOS as the tokenizer adds it) and label the supervised tokens.

    Args:
        segments: output of `templates.render`.
        tokenizer: a fast tokenizer (offsets are needed).
        max_length: sequences are truncated to this many tokens.
        image: how `<image>` expands; None for a text-only model (placeholders must be gone).

    Raises:
        SampleError: the image block is cut by truncation, or no supervised token is left.
    """
    text, spans = _expand(segments, image)
    enc = tokenizer(text, add_special_tokens=True, return_offsets_mapping=True)
    ids: list[int] = list(enc["input_ids"])
    offsets: list[tuple[int, int]] = [tuple(o) for o in enc["offset_mapping"]]
    image_id = image.token_id if image else None
    labels = [
        tok if tok != image_id and _overlaps(start, end, spans) else IGNORE_INDEX
        for tok, (start, end) in zip(ids, offsets, strict=True)
    ]
    n_images = text.count(image.token * image.count) if image and image.count else 0
    n_image_tokens = ids.count(image_id) if image_id is not None else 0
    if image and n_image_tokens != n_images * image.count:
        raise SampleError(
            f"the tokenizer splits the image token {image.token!r}: {n_image_tokens} ids "
            f"for {n_images} images x {image.count}"
        )
    truncated = len(ids) > max_length
    ids, labels = ids[:max_length], labels[:max_length]
    if image_id is not None and ids.count(image_id) != n_image_tokens:
        raise SampleError(f"truncation to {max_length} tokens cuts into an image block")
    encoded = Encoded(tuple(ids), tuple(labels), n_images, truncated=truncated)
    if encoded.n_supervised == 0:
        raise SampleError(f"no supervised token left within max_length {max_length}")
    return encoded


def _expand(
    segments: tuple[Segment, ...], image: ImageTokens | None
) -> tuple[str, list[tuple[int, int]]]:
    """Concatenate segments, expanding `<image>`; return the text and supervised char spans."""
    parts: list[str] = []
    spans: list[tuple[int, int]] = []
    pos = 0
    for seg in segments:
        piece = seg.text
        if IMAGE_PLACEHOLDER in piece:
            if image is None:
                raise SampleError("an <image> placeholder in a text-only sample")
            piece = piece.replace(IMAGE_PLACEHOLDER, image.token * image.count)
        if seg.supervised and piece:
            spans.append((pos, pos + len(piece)))
        parts.append(piece)
        pos += len(piece)
    return "".join(parts), spans


def _overlaps(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    # Zero-width offsets belong to tokens the tokenizer added itself (BOS): never supervised.
    return end > start and any(start < s_end and end > s_start for s_start, s_end in spans)
