"""`assemble`: a CLIP vision tower + a causal LM -> a new llava-hf checkpoint with processor.

Done once, offline, so every later stage is a plain `from_pretrained` (which is also what
ZeRO-3's `zero.Init` handles correctly).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from sbt_train.model.llava_hf import (
    ProjectorKind,
    build_llava,
    load_image_processor,
    save_llava,
)
from sbt_train.model.loading import load_causal_lm
from sbt_train.model.pretrained import load_pretrained
from sbt_train.model.projector_weights import apply_projector_weights

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AssembleConfig:
    """Inputs of `assemble`."""

    vision: Path
    model: str
    output_dir: Path
    projector: ProjectorKind = ProjectorKind.LINEAR
    vision_feature_layer: int = -2
    seed: int = 0
    projector_weights: Path | None = None
    """A stage-1 `mm_projector.bin` (or its folder) loaded into the new projector."""


def assemble(cfg: AssembleConfig) -> Path:
    """Build and save the llava-hf model, tokenizer (with `<image>`) and processor."""
    from transformers import CLIPVisionModel  # noqa: PLC0415 - heavy

    vision = load_pretrained(CLIPVisionModel.from_pretrained, cfg.vision, "CLIP vision tower")
    image_processor = load_image_processor(cfg.vision)
    tokenizer, lm = load_causal_lm(cfg.model)
    torch.manual_seed(cfg.seed)
    model = build_llava(
        vision, tokenizer, lm, cfg.projector, feature_layer=cfg.vision_feature_layer
    )
    if cfg.projector_weights is not None:
        apply_projector_weights(model, tokenizer, cfg.projector_weights)
    save_llava(
        model, tokenizer, image_processor, cfg.output_dir, patch_size=vision.config.patch_size
    )
    return cfg.output_dir
