"""Tiny CLIP vision tower + tiny Llama + local tokenizer, assembled into a llava-hf folder."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import CLIPImageProcessorPil, CLIPVisionConfig, CLIPVisionModel

from sbt_train.model.assemble import AssembleConfig, ProjectorKind, assemble
from tests.tiny_models import build_tiny_llama

IMAGE_SIZE = 28  # 2 x 2 patches of 14 px: 4 image tokens per picture


def build_tiny_clip(folder: Path, seed: int = 0) -> Path:
    """A 2-layer random CLIP vision tower and its PIL image processor."""
    config = CLIPVisionConfig(
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=IMAGE_SIZE,
        patch_size=14,
        projection_dim=16,
    )
    torch.manual_seed(seed)
    CLIPVisionModel(config).save_pretrained(folder)
    CLIPImageProcessorPil(
        size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    ).save_pretrained(folder)
    return folder


def build_tiny_llava(root: Path, projector: ProjectorKind = ProjectorKind.LINEAR) -> Path:
    """Assemble tiny CLIP + tiny Llama under `root` and return the llava folder."""
    clip = build_tiny_clip(root / "clip")
    llama = build_tiny_llama(root / "llama")
    return assemble(AssembleConfig(clip, str(llama), root / f"llava-{projector.value}", projector))
