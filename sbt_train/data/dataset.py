"""Torch dataset over conversations: text encoded up front, images loaded lazily per item."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from sbt_bench.errors import SbtError
from sbt_train.data.records import Conversation
from sbt_train.encode import IGNORE_INDEX, Encoded, ImageTokens, SampleError, encode
from sbt_train.templates import IMAGE_PLACEHOLDER, Template, Turn, render

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ImageInputs:
    """What a multimodal dataset needs: where images live, how to preprocess and expand them."""

    image_dir: Path
    image_processor: Any
    tokens: ImageTokens


class SupervisedDataset(Dataset[dict[str, torch.Tensor]]):
    """Encoded conversations; samples that cannot be trained on are listed in `skipped`.

    Encoding all text at construction (cheap next to a training step) means a sample whose
    answer does not fit `max_length` is reported before training instead of contributing a
    silent zero loss.
    """

    def __init__(
        self,
        convs: Sequence[Conversation],
        tokenizer: Any,
        template: Template,
        max_length: int,
        images: ImageInputs | None = None,
    ) -> None:
        self.images = images
        self.items: list[tuple[Conversation, Encoded]] = []
        self.skipped: dict[str, str] = {}
        # Trained on, but with their tail (maybe the end token) cut: reported, not hidden.
        self.truncated: list[str] = []
        bos, eos = tokenizer.bos_token or "", tokenizer.eos_token or ""
        for conv in convs:
            conv_in = _with_image_placeholder(conv) if images and conv.image else conv
            if conv.image and images is None:
                self.skipped[conv.id] = "has an image but the model is text-only"
                continue
            try:
                segments = render(template, conv_in.turns, bos=bos, eos=eos)
                image_tokens = images.tokens if images else None
                enc = encode(segments, tokenizer, max_length=max_length, image=image_tokens)
            except (SampleError, ValueError) as err:
                self.skipped[conv.id] = str(err)
                continue
            self.items.append((conv_in, enc))
            if enc.truncated:
                self.truncated.append(conv.id)
        if self.truncated:
            log.warning("%d samples truncated to %d tokens", len(self.truncated), max_length)
        if self.skipped:
            log.warning("%d samples skipped: %s", len(self.skipped), _first(self.skipped))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        conv, enc = self.items[index]
        item = {
            "input_ids": torch.tensor(enc.input_ids, dtype=torch.long),
            "labels": torch.tensor(enc.labels, dtype=torch.long),
        }
        if self.images is not None and conv.image is not None:
            item["pixel_values"] = self._load_image(conv.image)
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


@dataclass(frozen=True, slots=True)
class Collator:
    """Right-pad a batch; attention comes from lengths and padded labels are IGNORE_INDEX."""

    pad_id: int

    def __call__(self, features: Sequence[Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """Stack `features`; `pixel_values` holds the images of the samples that have one."""
        width = max(len(f["input_ids"]) for f in features)
        ids = torch.full((len(features), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(features), width), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((len(features), width), dtype=torch.long)
        for row, feat in enumerate(features):
            n = len(feat["input_ids"])
            ids[row, :n] = feat["input_ids"]
            labels[row, :n] = feat["labels"]
            mask[row, :n] = 1
        batch = {"input_ids": ids, "labels": labels, "attention_mask": mask}
        pixels = [f["pixel_values"] for f in features if "pixel_values" in f]
        if pixels:
            batch["pixel_values"] = torch.cat(pixels)
        return batch
