"""`merge`: fold a LoRA adapter (and its whole-trained projector) into full weights."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from sbt_bench.backends.hf_loading import merge_adapter
from sbt_bench.core.errors import SbtError
from sbt_bench.core.files import read_json
from sbt_bench.core.types import ModelSpec
from sbt_train.model.loading import load_causal_lm, load_llava, text_model_spec


def merge(adapter_dir: Path, output_dir: Path, base: str | None = None) -> Path:
    """Load the base the adapter was trained on, merge, and save a loadable full checkpoint.

    Args:
        adapter_dir: a LoRA output folder of `sbt-train finetune/text --lora`.
        output_dir: where the merged model goes.
        base: the base model spec; defaults to the one recorded at training time.
    """
    base = base or _recorded_base(adapter_dir)
    is_llava = _is_llava(adapter_dir)
    processing: Any
    if is_llava:
        folder = base.removeprefix("llava:")
        processing, model = load_llava(Path(folder))
        spec = ModelSpec(name=base, backend="llava", path=folder)
    else:
        processing, model = load_causal_lm(base)
        spec = text_model_spec(base)
    merged = merge_adapter(model, replace(spec, adapter=str(adapter_dir)))
    output_dir.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(str(output_dir))
    # The adapter folder holds the tokenizer/processor saved after training, with the chat
    # template the adapter learned; the base's may carry an earlier stage's (plain) one.
    processing = _trained_processing(adapter_dir, processing, is_llava=is_llava)
    processing.save_pretrained(str(output_dir))
    return output_dir


def _trained_processing(adapter_dir: Path, fallback: Any, *, is_llava: bool) -> Any:
    from transformers import AutoProcessor, AutoTokenizer  # noqa: PLC0415 - heavy

    marker = "processor_config.json" if is_llava else "tokenizer_config.json"
    if not (adapter_dir / marker).is_file():
        return fallback
    loader = AutoProcessor if is_llava else AutoTokenizer
    return loader.from_pretrained(str(adapter_dir))


def _recorded_base(adapter_dir: Path) -> str:
    marker = adapter_dir / "sbt_base_model.txt"
    if not marker.is_file():
        raise SbtError(f"{adapter_dir} records no base model; pass --base <model spec>")
    return marker.read_text(encoding="utf-8").strip()


def _is_llava(adapter_dir: Path) -> bool:
    config = adapter_dir / "adapter_config.json"
    if not config.is_file():
        raise SbtError(f"{adapter_dir} is not a LoRA adapter folder (no adapter_config.json)")
    data = read_json(config)
    return "multi_modal_projector" in (data.get("modules_to_save") or [])
