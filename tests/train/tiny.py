"""The tiny CLIP and tiny LLaVA builders, shared with the sbt_bench tests (tests/tiny_models.py)."""

from __future__ import annotations

from tests.tiny_models import build_tiny_clip, build_tiny_llava

__all__ = ["build_tiny_clip", "build_tiny_llava"]
