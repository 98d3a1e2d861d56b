"""What a `vllm:` model needs before an engine starts: the extra, the GPUs, a head size it runs.

Each check reads only files and the environment, so a wrong spec costs one line, not an
engine start (seconds on CPU, minutes on a GPU).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from sbt_bench.core.errors import SbtError
from sbt_bench.core.types import ModelSpec

INSTALL_HINT = (
    'pip install -e ".[vllm]" after torch (on CPU: the README\'s vLLM steps, which also '
    "remove the CUDA torchvision/torchaudio/torchcodec builds pip brings)"
)
# vLLM's CPU attention kernels are built for these head sizes and no smaller.
CPU_MIN_HEAD_SIZE = 32


def check_vllm_spec(spec: ModelSpec, gpus: int) -> None:
    """Raise a one-line SbtError for a spec this machine's vLLM cannot run.

    `gpus` is the number of visible CUDA devices (0 on a CPU machine).
    """
    tp = spec.engine.tensor_parallel_size
    if tp > max(gpus, 1):
        raise SbtError(
            f"model {spec.name!r}: tensor_parallel_size {tp} is above the {gpus} visible "
            "GPU(s); lower it or make more GPUs visible (CUDA_VISIBLE_DEVICES)"
        )
    if gpus == 0:
        head = head_size(spec)
        if head is not None and head < CPU_MIN_HEAD_SIZE:
            raise SbtError(
                f"model {spec.name!r}: attention head size {head} is below the "
                f"{CPU_MIN_HEAD_SIZE} vLLM's CPU attention runs; use the hf backend "
                f"(hf:{spec.path}) or a GPU"
            )
    if importlib.util.find_spec("vllm") is None:
        raise SbtError(f"model {spec.name!r}: the vllm backend needs vLLM: {INSTALL_HINT}")


def head_size(spec: ModelSpec) -> int | None:
    """The language model's attention head size from a local config.json (None if unknown)."""
    config_file = Path(spec.path) / "config.json"
    if not config_file.is_file():
        return None
    try:
        config: dict[str, Any] = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # the loader names an unreadable config in its own words
    text = config.get("text_config") or config  # LLaVA-style: the LM's own config
    if isinstance(text.get("head_dim"), int):
        return int(text["head_dim"])
    hidden, heads = text.get("hidden_size"), text.get("num_attention_heads")
    if isinstance(hidden, int) and isinstance(heads, int) and heads > 0:
        return hidden // heads
    return None


def has_vision(spec: ModelSpec) -> bool:
    """Whether a local checkpoint is image-text-to-text (its config has a vision tower)."""
    config_file = Path(spec.path) / "config.json"
    try:
        return "vision_config" in json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
