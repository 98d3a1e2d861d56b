"""Load the models each stage starts from, through the same specs sbt-bench accepts."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import torch

from sbt_bench.backends.hf_loading import load_tokenizer_and_model
from sbt_bench.backends.models import parse_model_spec
from sbt_bench.core.errors import SbtError
from sbt_bench.core.types import ModelSpec
from sbt_train.model.pretrained import load_pretrained


def text_model_spec(spec_text: str) -> ModelSpec:
    """The ModelSpec of `smollm2`, `hf:<dir>` or a bare folder (read as `hf:<folder>`)."""
    return parse_model_spec(f"hf:{spec_text}" if Path(spec_text).is_dir() else spec_text)


def load_causal_lm(spec_text: str) -> tuple[Any, Any]:
    """Tokenizer and float32 causal LM (train mode) from `smollm2`, `hf:<dir>` or a bare folder."""
    spec = text_model_spec(spec_text)
    if spec.backend != "hf":
        raise SbtError(f"--model {spec_text!r}: training needs local weights (hf:<dir> or alias)")
    tokenizer, model = load_tokenizer_and_model(spec, torch.device("cpu"), torch.float32)
    if spec.gguf_file:
        _forget_gguf_quantization(model)
    return tokenizer, model.train()


def _forget_gguf_quantization(model: Any) -> None:
    # GGUF weights arrive de-quantized to float32, yet the model stays marked as quantized:
    # Trainer then refuses full fine-tuning and save_pretrained writes a GGUF config stub.
    # The tensors are ordinary, so drop the marks and train/save a normal HF checkpoint.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config


def load_llava(folder: Path, attn_implementation: str | None = None) -> tuple[Any, Any]:
    """Processor and llava-hf model written by `assemble` (or any earlier llava stage)."""
    from transformers import AutoProcessor, LlavaForConditionalGeneration  # noqa: PLC0415

    kwargs: dict[str, Any] = {"dtype": torch.float32}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    processor = load_pretrained(AutoProcessor.from_pretrained, folder, "llava processor")
    model_loader = partial(LlavaForConditionalGeneration.from_pretrained, **kwargs)
    model = load_pretrained(model_loader, folder, "llava model")
    return processor, model.train()
