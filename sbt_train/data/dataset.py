"""Torch dataset over conversations: text encoded up front (cached), images loaded per item."""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from sbt_bench.core.errors import SbtError
from sbt_bench.media.images import cache_dir as cache_root
from sbt_train.data.records import Conversation
from sbt_train.data.tokenised import tokenise
from sbt_train.encode import IGNORE_INDEX, ImageTokens
from sbt_train.templates import IMAGE_PLACEHOLDER, Template, Turn

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ImageInputs:
    """What a multimodal dataset needs: where images live, how to preprocess and expand them."""

    image_dir: Path
    image_processor: Any
    tokens: ImageTokens


class SupervisedDataset(Dataset[dict[str, Any]]):
    """Encoded conversations; samples that cannot be trained on are listed in `skipped`.

    All text is encoded before training (through `datasets.map`, cached on disk; see
    `tokenised`), so a sample whose answer does not fit `max_length` is reported before
    training instead of contributing a silent zero loss. Token ids stay in the memory-mapped
    Arrow file; images are loaded per item.
    """

    def __init__(
        self,
        convs: Sequence[Conversation],
        tokenizer: Any,
        template: Template,
        max_length: int,
        images: ImageInputs | None = None,
        *,
        cache_dir: Path | None = None,
        num_proc: int = 1,
    ) -> None:
        self.images = images
        convs = [_with_image_placeholder(c) if images and c.image else c for c in convs]
        encoded = tokenise(
            convs,
            tokenizer,
            template,
            max_length,
            images.tokens if images else None,
            cache_dir=cache_dir or cache_root() / "train_data",
            num_proc=num_proc,
        )
        ids, reasons, cut = encoded["id"], encoded["skip"], encoded["truncated"]
        self.skipped: dict[str, str] = {i: r for i, r in zip(ids, reasons, strict=True) if r}
        # Trained on, but with their tail (maybe the end token) cut: reported, not hidden.
        self.truncated: list[str] = [
            i for i, r, c in zip(ids, reasons, cut, strict=True) if c and not r
        ]
        self.rows = [n for n, reason in enumerate(reasons) if not reason]
        self.data = encoded.select_columns(["input_ids", "labels", "image"])
        if self.truncated:
            log.warning("%d samples truncated to %d tokens", len(self.truncated), max_length)
        if self.skipped:
            log.warning("%d samples skipped: %s", len(self.skipped), _first(self.skipped))

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        row = self.data[self.rows[index]]
        item: dict[str, Any] = {"input_ids": row["input_ids"], "labels": row["labels"]}
        if self.images is not None and row["image"] is not None:
            item["pixel_values"] = self._load_image(row["image"])
        return item

    def _load_image(self, name: str) -> torch.Tensor:
        from PIL import Image  # noqa: PLC0415 - only multimodal runs need pillow

        assert self.images is not None
        path = self.images.image_dir / name
        try:
            with Image.open(path) as img:
                rgb = img.convert("RGB")
        except OSError as err:  # PIL's UnidentifiedImageError is an OSError
            raise SbtError(
                f"image {path} cannot be read ({err}); replace it or drop its record"
            ) from None
        out = self.images.image_processor(images=rgb, return_tensors="pt")
        pixels: torch.Tensor = out["pixel_values"]
        return pixels


def _with_image_placeholder(conv: Conversation) -> Conversation:
    # An image record without `<image>` in its text would feed features the text never
    # points at; LLaVA-style data puts the image in front of the first question.
    if any(IMAGE_PLACEHOLDER in t.text for t in conv.turns):
        return conv
    first = conv.turns[0]
    turns = (Turn(first.role, IMAGE_PLACEHOLDER + "\n" + first.text), *conv.turns[1:])
    return replace(conv, turns=turns)


def _first(skipped: Mapping[str, str], n: int = 5) -> str:
    return "; ".join(f"{k}: {v}" for k, v in list(skipped.items())[:n])


def build_collator(tokenizer: Any) -> Collator:
    """Right-padding batches: transformers' seq2seq collator for the text, images stacked."""
    from transformers import DataCollatorForSeq2Seq  # noqa: PLC0415 - heavy

    # Right padding whatever the checkpoint's inference setting (llava processors pad
    # left for generation); a copy, so the tokenizer saved with the model keeps its own.
    padder = copy.copy(tokenizer)
    padder.padding_side = "right"
    return Collator(
        DataCollatorForSeq2Seq(padder, label_pad_token_id=IGNORE_INDEX, return_tensors="pt")
    )


@dataclass(frozen=True, slots=True)
class Collator:
    """Pad a batch: ids with the pad token, labels with IGNORE_INDEX, attention from lengths."""

    text: Any
    """Pads `input_ids` and `labels` (DataCollatorForSeq2Seq)."""

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        """Pad `features`; `pixel_values` holds the images of the samples that have one."""
        text = [{k: v for k, v in f.items() if k != "pixel_values"} for f in features]
        batch: dict[str, torch.Tensor] = dict(self.text(text))
        pixels = [f["pixel_values"] for f in features if "pixel_values" in f]
        if pixels:
            batch["pixel_values"] = torch.cat(pixels)
        return batch
