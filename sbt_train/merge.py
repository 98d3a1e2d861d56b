"""`merge`: fold a LoRA adapter (and its whole-trained projector) into full weights."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sbt_bench.errors import SbtError
from sbt_train.model.loading import load_causal_lm, load_llava


def merge(adapter_dir: Path, output_dir: Path, base: str | None = None) -> Path:
    """Load the base the adapter was trained on, merge, and save a loadable full checkpoint.

    Args:
        adapter_dir: a LoRA output folder of `sbt-train finetune/text --lora`.
        output_dir: where the merged model goes.
        base: the base model spec; defaults to the one recorded at training time.
    """
    from peft import PeftModel  # noqa: PLC0415 - heavy

    base = base or _recorded_base(adapter_dir)
    is_llava = _is_llava(adapter_dir)
    processing: Any
    if is_llava:
        processing, model = load_llava(Path(base.removeprefix("llava:")))
    else:
        processing, model = load_causal_lm(base)
    try:
        peft_model = PeftModel.from_pretrained(model, str(adapter_dir))
    except (OSError, ValueError, KeyError) as err:
        raise SbtError(f"cannot load adapter {adapter_dir} onto {base} ({err})") from None
    merged = peft_model.merge_and_unload()
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
    data = json.loads(config.read_text(encoding="utf-8"))
    return "multi_modal_projector" in (data.get("modules_to_save") or [])
